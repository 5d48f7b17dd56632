"""`LMHead`: hidden states to next-token logits, tied to the text embedding by default."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multimodal.batch import Batch
from multimodal.head import Head
from multimodal.prepack import PackableLinear


class LMHead(Head, PackableLinear):
    """(..., D) -> (..., V).

    With `tie_to` set (default "text"), `MultimodalModel` sets `weight` to that tokenizer's
    embedding matrix, so input and output embeddings are one parameter. With `tie_to=None`, the
    head owns a (vocab_size, d_model) matrix.
    """

    def __init__(
        self, d_model: int | None = None, vocab_size: int | None = None, tie_to: str | None = "text"
    ):
        super().__init__()
        self.tie_to = tie_to
        if tie_to is None:
            if d_model is None or vocab_size is None:
                raise ValueError("an untied LM head needs d_model and vocab_size")
            self.weight = nn.Parameter(torch.randn(vocab_size, d_model) * 0.02)

    def forward(self, hidden: Tensor, batch: Batch | None = None) -> Tensor:
        return F.linear(hidden, self.weight)

    def default_task(self, name: str) -> dict:
        return {"_target_": "multimodal.tasks.language_modeling.LanguageModeling", "head": name}
