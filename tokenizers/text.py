"""`TextTokenizer`: the module half of text, an embedding of BPE ids.

Shapes: S text segments in a batch, L ids in the longest, D width.
"""

from collections.abc import Sequence

from torch import Tensor, nn

from multimodal.tokenizer import Tokenizer
from multimodal.tokenizers.text_preprocessor import TextPreprocessor


class TextTokenizer(Tokenizer):
    """BPE ids (S, L) -> embedding + text modality embedding, (S, L, D).

    Args:
        d_model: output width.
        **preprocess: `TextPreprocessor`'s arguments: `vocab` (a rank file path, a named
            vocabulary or an inline mapping) or `encoding` (a ready `tiktoken.Encoding`).
    """

    preprocessor_class = TextPreprocessor

    def __init__(self, d_model: int, **preprocess):
        prep = TextPreprocessor(**preprocess)
        super().__init__(d_model, prep)
        self.vocab_size = prep.vocab_size
        self.embedding = nn.Embedding(self.vocab_size, d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, collated: dict[str, Tensor]) -> Tensor:
        return self.embedding(collated["ids"]) + self.modality_embedding  # (S, L, D)

    def tied_weight(self) -> nn.Parameter:
        return self.embedding.weight

    # --- the preprocessor's ids <-> text, for callers holding the module ----------------------
    def encode(self, text: str) -> list[int]:
        return self.preprocessor.encode(text)

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        return self.preprocessor.decode(ids)

    def special(self, name: str) -> int:
        return self.preprocessor.special(name)

    def markers(self, modality: str) -> tuple[int, int] | None:
        return self.preprocessor.markers(modality)

    @property
    def eot(self) -> int:
        return self.preprocessor.eot
