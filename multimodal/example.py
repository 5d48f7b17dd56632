"""`Example`: what a dataset yields, one training or inference sample before batching."""

from dataclasses import dataclass, field
from typing import Any

from multimodal.segment import Segment


@dataclass
class Example:
    """An ordered list of segments, the task's target, and the bidirectional prefix length.

    segments:   the sample's inputs in sequence order, any modalities.
    target:     what the task predicts (a class id, a transcript, ...); None for language modelling.
    prefix_len: tokens at the start seen bidirectionally under the "prefix" mask.
    meta:       where it came from (path, index), for error messages and reports.
    """

    segments: list[Segment]
    target: Any = None
    prefix_len: int = 0
    meta: dict = field(default_factory=dict)
