"""`Segment`: one input item after a tokenizer's `prepare()`."""

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class Segment:
    """One item of a sample, ready to batch.

    modality: tokenizer name ("text", "image", "audio", ...).
    data:     text (N,) int64 ids | image (C, H, W) float | audio (n_mels, F) float.
    meta:     where it came from and what it is (source path, patch grid, seconds, ...).
    """

    modality: str
    data: Tensor
    meta: dict = field(default_factory=dict)
