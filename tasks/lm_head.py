"""`LMHead`: hidden states to next-token logits, tied to the text embedding by default."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multimodal.prepack import PackableLinear


class LMHead(PackableLinear):
    """(B, T, D) -> (B, T, V).

    With `tie_to` set (default "text"), `MultimodalModel` replaces `weight` with that
    tokenizer's embedding matrix, so input and output embeddings are one parameter. With
    `tie_to=None`, the head owns a (vocab_size, d_model) matrix.
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

    def forward(self, hidden: Tensor) -> Tensor:
        return F.linear(hidden, self.weight)
