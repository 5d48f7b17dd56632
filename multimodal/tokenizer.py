"""The protocol every modality follows, in two halves built from one config.

`Preprocessor`, the CPU half: `prepare(raw) -> Segment`, `num_tokens(segment)` and
`collate(segments)` (padded tensors). A plain picklable object with no parameters: DataLoader
workers receive it under any start method, and data is built with no model.

`Tokenizer`, the `nn.Module` half the model owns: `forward(collated) -> (S, L, D)`, plus the
learned modality embedding. It is built from the same config, holds the preprocessor it
describes (`tokenizer.preprocessor`) and passes the protocol's calls on to it.

One config builds either half: `ImageTokenizer(**config)` the module (with its preprocessor),
`ImageTokenizer.build_preprocessor(**config)` the preprocessor alone (in Hydra terms, the
`_target_` with `.build_preprocessor` appended). A new modality is a preprocessor, a tokenizer
and a config file.
"""

import inspect

import torch
from torch import Tensor, nn

from multimodal.errors import InputError
from multimodal.segment import Segment


class Preprocessor:
    """Base class of the CPU halves; subclasses set `modality`."""

    modality: str = ""

    def portable_config(self) -> dict:
        """Constructor arguments that rebuild this preprocessor with no outside file (e.g. an
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

    def describe(self, meta: dict, collated: dict[str, Tensor], row: int, count: int) -> list:
        """What each of a segment's `count` tokens stands for, as `multimodal.layout.Token`
        fields ("kind", "label", and "piece", "patch", "box" or "span"); the segment is row
        `row` of `collated` and `meta` is its `prepare` meta. By default each is numbered."""
        return [{"kind": self.modality, "label": f"{self.modality} {i}"} for i in range(count)]


class Tokenizer(nn.Module):
    """Base class of the module halves.

    Subclasses set `preprocessor_class`, take `d_model` and their own arguments by name and the
    preprocessor's as `**preprocess`, and own a `d_model`-wide embedder; `forward` adds
    `self.modality_embedding` to every vector it outputs.
    """

    preprocessor_class: type[Preprocessor] = Preprocessor

    def __init__(self, d_model: int, preprocessor: Preprocessor):
        super().__init__()
        self.d_model = d_model
        self.preprocessor = preprocessor
        self.modality_embedding = nn.Parameter(torch.zeros(d_model))

    @classmethod
    def build_preprocessor(cls, **config) -> Preprocessor:
        """The preprocessor `cls(**config)` holds, built alone: the arguments the module half
        names in its own signature (`d_model`, ...) are left out, the rest go to it."""
        own = inspect.signature(cls.__init__).parameters
        named = {k for k, p in own.items() if p.kind != p.VAR_KEYWORD}
        return cls.preprocessor_class(**{k: v for k, v in config.items() if k not in named})

    # --- the preprocessor's protocol, for callers holding the module --------------------------
    def portable_config(self) -> dict:
        return self.preprocessor.portable_config()

    def prepare(self, raw, **options) -> Segment:
        return self.preprocessor.prepare(raw, **options)

    def num_tokens(self, seg: Segment) -> int:
        return self.preprocessor.num_tokens(seg)

    def collate(self, segs: list[Segment]) -> dict[str, Tensor]:
        return self.preprocessor.collate(segs)

    def forward(self, collated: dict[str, Tensor]) -> Tensor:
        """Collated tensors to vectors, (S, L, D); row s holds `num_tokens` of segment s first."""
        raise NotImplementedError

    def tied_weight(self) -> nn.Parameter:
        """The (V, D) embedding matrix that a head tied to this tokenizer shares (`Head.tie_to`)."""
        raise InputError(
            f"the {self.preprocessor.modality!r} tokenizer has no matrix to tie a head to"
        )
