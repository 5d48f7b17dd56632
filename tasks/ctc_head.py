"""`CTCHead`: per-token character logits over audio tokens, for CTC training and decoding.

Shapes: B clips, L audio tokens, D width, C = characters + 1 (blank at 0).
"""

from torch import Tensor, nn

from multimodal.tasks.char_vocab import CharVocab


class CTCHead(nn.Module):
    """(B, L, D) -> (B, L, C) logits. The vocabulary travels with the head (and its config).

    Args:
        d_model: width of the backbone's hidden states.
        vocab: the characters, in id order from 1 (0 is the blank).
    """

    def __init__(self, d_model: int, vocab: str):
        super().__init__()
        self.vocab = CharVocab(vocab)
        self.proj = nn.Linear(d_model, self.vocab.size)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.proj(hidden)
