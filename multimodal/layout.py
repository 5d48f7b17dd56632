"""Where each token of a batch came from.

`collate` keeps one `Placed` per segment in `Batch.layout` (a few numbers and the segment's
`meta` from `prepare`; nothing per token, so training batches stay as cheap as before).
`tokens(batch, preprocessors)` expands them into one `Token` per column: each preprocessor
describes its own tokens (`Preprocessor.describe`), text as its pieces, an image as its patches'
(row, col) and pixel boxes in the original image, a clip as its tokens' time spans in seconds.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # batch.py imports `Placed` from here
    from multimodal.batch import Batch
    from multimodal.tokenizer import Preprocessor


class Placed(NamedTuple):
    """One segment's columns in a batch."""

    sample: int  # row of the batch
    segment: int  # index among the sample's segments as given; a marker takes the one it wraps
    modality: str
    row: int  # its row in `batch.inputs[modality]` and `batch.slots[modality]`
    start: int  # first column
    length: int  # tokens
    meta: dict  # what `prepare` said about it (source, size, seconds, marker, ...)


class Layout:
    """A batch's `Placed` segments, in order. A plain object, not a sequence, so that moving a
    batch to a device passes it whole (walking a few hundred tuples and dicts took 6 ms)."""

    __slots__ = ("places",)

    def __init__(self, places=()):
        self.places: tuple[Placed, ...] = tuple(places)

    def __iter__(self):
        return iter(self.places)

    def __len__(self) -> int:
        return len(self.places)

    def __getitem__(self, i: int) -> Placed:
        return self.places[i]

    def __eq__(self, other) -> bool:
        return isinstance(other, Layout) and self.places == other.places

    def __repr__(self) -> str:
        return f"Layout({list(self.places)!r})"


@dataclass(frozen=True)
class Token:
    """One column of a batch and what it stands for."""

    sample: int
    column: int
    modality: str
    segment: int
    kind: str  # "text", "marker", "class", "patch", "frames", or a new modality's own
    label: str  # a short name: the text piece, "patch (3, 9)", "0.42-0.44 s"
    piece: str | None = None  # text and markers: the token's bytes as text
    patch: tuple[int, int] | None = None  # image patch: (row, col) in its grid
    box: tuple[float, float, float, float] | None = None  # image patch: (x0, y0, x1, y1) pixels
    span: tuple[float, float] | None = None  # audio: (start, end) in seconds of the clip
    source: str | None = None  # the file it was read from, when it was one


def tokens(batch: "Batch", preprocessors: Mapping[str, "Preprocessor"]) -> list[list[Token | None]]:
    """(B, T) the `Token` at each column of `batch`; None at padding."""
    B, T = batch.shape
    grid: list[list[Token | None]] = [[None] * T for _ in range(B)]
    for p in batch.layout:
        described = preprocessors[p.modality].describe(
            p.meta, batch.inputs[p.modality], p.row, p.length
        )
        source = p.meta.get("source")
        for i, fields in enumerate(described):
            column = p.start + i
            grid[p.sample][column] = Token(
                p.sample, column, p.modality, p.segment, source=source, **fields
            )
    return grid
