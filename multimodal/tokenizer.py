"""`Tokenizer`: the protocol every modality follows.

A tokenizer has two halves. `prepare(raw) -> Segment` is pure CPU work that runs in DataLoader
workers. The module half (`collate` + `forward`) turns a batch of segments into vectors of width
`d_model`. A new modality is one subclass of this plus a config file.
"""

import torch
from torch import Tensor, nn

from multimodal.segment import Segment


class Tokenizer(nn.Module):
    """Base class for modality tokenizers.

    Subclasses set `modality`, own a `d_model`-wide embedder and a learned modality embedding
    (`self.modality_embedding`, added to every vector they output).
    """

    modality: str = ""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.modality_embedding = nn.Parameter(torch.zeros(d_model))

    def portable_config(self) -> dict:
        """Constructor arguments that rebuild this tokenizer with no outside file (e.g. an
        inline vocabulary); checkpoints store them over the configured ones."""
        return {}

    def prepare(self, raw) -> Segment:
        """Raw input (a string, a path, an array, ...) to a `Segment`; raises `InputError`."""
        raise NotImplementedError

    def num_tokens(self, seg: Segment) -> int:
        """How many vectors `seg` becomes."""
        raise NotImplementedError

    def collate(self, segs: list[Segment]) -> dict[str, Tensor]:
        """All segments of this modality in a batch, as padded tensors."""
        raise NotImplementedError

    def forward(self, collated: dict[str, Tensor]) -> Tensor:
        """Collated tensors to vectors, (S, L, D); row s holds `num_tokens` of segment s first."""
        raise NotImplementedError
