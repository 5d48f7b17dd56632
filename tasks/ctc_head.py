"""`CTCHead`: per-token character logits over audio tokens, for CTC training and decoding.

Shapes: B clips, T tokens, L audio tokens (longest clip), D width, C = characters + 1 (blank
at 0).
"""

import torch
from torch import Tensor, nn

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.head import Head
from multimodal.tasks.char_vocab import CharVocab


class CTCHead(Head):
    """Hidden states of each sample's audio tokens (B, L, D) -> (B, L, C) logits. The
    vocabulary travels with the head (and its config).

    Args:
        d_model: width of the backbone's hidden states.
        vocab: the characters, in id order from 1 (0 is the blank).
    """

    def __init__(self, d_model: int, vocab: str):
        super().__init__()
        self.vocab = CharVocab(vocab)
        self.proj = nn.Linear(d_model, self.vocab.size)

    def columns(self, batch: Batch) -> Tensor:
        """(B, L) the columns of each sample's audio tokens, 0 past the clip's end; a sample
        holds one audio segment."""
        B, T = batch.shape
        slot = batch.slots.get("audio")  # (S, L) flat indices into B * T
        rows = torch.arange(B, device=slot.device) if slot is not None else None
        if slot is None or slot.shape[0] != B or not bool((slot[:, 0] // T == rows).all()):
            raise InputError("the CTC head reads one audio segment in every sample")
        return torch.where(slot >= 0, slot % T, 0)

    def forward(self, hidden: Tensor, batch: Batch | None = None) -> Tensor:
        return self.proj(hidden)

    def default_task(self, name: str) -> dict:
        return {
            "_target_": "multimodal.tasks.transcribe_ctc.CTCTranscription",
            "head": name,
            "vocab": self.vocab.chars,
        }
