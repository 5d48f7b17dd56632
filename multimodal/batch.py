"""`Batch` and `collate`: samples (ordered lists of segments) to one padded sequence batch.

Every modality is collated once for the whole batch by its preprocessor (the CPU half of its
tokenizer; no model is needed); `slots` says where its vectors go in the flattened (B * T)
sequence. Each non-text segment sits between its boundary markers (`<|begin_image|>` ...
`<|end_image|>`) when the text vocabulary has them.
Shapes: B samples, T tokens (longest sample), S segments of one modality in the batch, L tokens
of its longest segment.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from multimodal.errors import InputError
from multimodal.layout import Layout, Placed
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor


@dataclass
class Batch:
    inputs: dict[str, dict[str, Tensor]]  # modality -> its preprocessor's collated tensors
    slots: dict[str, Tensor]  # modality -> (S, L) flat index into B * T, -1 past a segment's end
    modality_ids: Tensor  # (B, T) index into the preprocessors' order, -1 at padding
    padding: Tensor  # (B, T) bool, True at padding
    prefix_len: Tensor  # (B,) bidirectional span at the start of each sample, 0 for none;
    #                     packed rows: (B, T) that of each token's own sample
    positions: Tensor  # (B, T) token index in its sample, 0 at padding
    targets: dict[str, Tensor] = field(default_factory=dict)  # task -> labels
    skipped: list[str] = field(default_factory=list)  # why bad samples were left out of it
    layout: Layout = field(default_factory=Layout)  # each segment's columns and meta
    documents: Tensor | None = None  # (B, T) packed rows: each token's sample, -1 at padding
    padded: bool | None = None  # whether any row has padding, known on the host (None: look)
    prefixed: bool | None = None  # whether any sample has a prefix, likewise

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.padding.shape)

    def gather(self, modality: str, values: Tensor, fill=-100) -> Tensor:
        """Place per-token values of one modality, (S, L), into a (B, T) grid filled with `fill`."""
        B, T = self.shape
        out = torch.full((B * T,), fill, dtype=values.dtype, device=values.device)
        slot = self.slots[modality]
        keep = slot >= 0
        out[slot[keep]] = values[:, : slot.shape[1]][keep]
        return out.view(B, T)


def marker(token_id: int) -> Segment:
    """A one-token text segment (a boundary marker)."""
    return Segment("text", torch.tensor([token_id]), {"marker": True})


def with_markers(seg: Segment, text: Preprocessor | None) -> list[Segment]:
    """`seg` between the begin/end markers the text vocabulary has for its modality, if any."""
    ids = text.markers(seg.modality) if text is not None else None
    return [seg] if ids is None else [marker(ids[0]), seg, marker(ids[1])]


def check_sample(b: int, sample: Sequence[Segment], preprocessors: Mapping) -> None:
    """Sample `b` has segments, each of a modality the preprocessors know."""
    if not sample:
        raise InputError(f"sample {b} has no segments; expected at least one")
    for seg in sample:
        if seg.modality not in preprocessors:
            raise InputError(
                f"sample {b} has a {seg.modality!r} segment but the model has tokenizers "
                f"only for {list(preprocessors)}"
            )


def markers_in_prefix(given: int, n: int, prefix: int) -> int:
    """How many of the two markers around a segment of `n` tokens, `given` tokens into its
    sample, fall inside a prefix of `prefix` given tokens (a marker inside it joins it)."""
    return (given < prefix) + (given + n <= prefix)


def marked_length(
    sample: Sequence[Segment], preprocessors: Mapping[str, Preprocessor], markers: bool, prefix: int
) -> tuple[int, int]:
    """A sample's tokens with its boundary markers, and its prefix grown by the markers inside
    it, as `collate` lays it out."""
    text = preprocessors["text"] if markers and "text" in preprocessors else None
    given = length = 0  # given: tokens of the segments passed in
    grown = prefix
    for seg in sample:
        n = preprocessors[seg.modality].num_tokens(seg)
        if text is not None and text.markers(seg.modality) is not None:
            grown += markers_in_prefix(given, n, prefix)
            length += 2
        given += n
        length += n
    return length, grown


def collate(
    samples: Sequence[Sequence[Segment]],
    preprocessors: Mapping[str, Preprocessor],
    prefix_lens: Sequence[int] | None = None,
    pad_side: str = "right",
    max_len: int | None = None,
    markers: bool = True,
    pad_to: int | None = None,
) -> Batch:
    """Batch samples of any modalities; `preprocessors` maps each modality to its preprocessor.

    prefix_lens: per-sample length of the bidirectional prefix, in tokens of the given segments
        (prefix-LM mask); it grows by the boundary markers that fall inside it.
    pad_side: "right" for training, "left" for generation (all samples end at column T - 1).
    max_len: the model's context; a longer sample raises `InputError` naming its index.
    markers: wrap non-text segments in the text vocabulary's begin/end markers, where it has them.
    pad_to: pad every sample to at least this many tokens.
    """
    if not samples:
        raise InputError("the batch is empty; expected at least one sample")
    if pad_side not in ("left", "right"):
        raise InputError(f"pad_side {pad_side!r} is unknown; expected 'left' or 'right'")
    names = list(preprocessors)
    segments: dict[str, list[Segment]] = defaultdict(list)
    places: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # (sample, offset, n)
    layout = []  # (sample, segment, modality, row, offset, n, meta); offset before padding
    text = preprocessors["text"] if markers and "text" in preprocessors else None
    lengths, prefix = [], list(prefix_lens) if prefix_lens is not None else [0] * len(samples)
    for b, sample in enumerate(samples):
        check_sample(b, sample, preprocessors)
        offset, given, given_prefix = 0, 0, prefix[b]  # given: tokens of the segments passed in
        for index, seg in enumerate(sample):
            n = preprocessors[seg.modality].num_tokens(seg)
            wrapped = with_markers(seg, text)
            if len(wrapped) > 1:
                prefix[b] += markers_in_prefix(given, n, given_prefix)
            given += n
            for part in wrapped:
                k = n if part is seg else 1
                row = len(segments[part.modality])
                layout.append((b, index, part.modality, row, offset, k, part.meta))
                segments[part.modality].append(part)
                places[part.modality].append((b, offset, k))
                offset += k
        if max_len is not None and offset > max_len:
            raise InputError(
                f"sample {b} is {offset} tokens long; the model's context is {max_len} tokens"
            )
        lengths.append(offset)

    B, T = len(samples), max(*lengths, pad_to or 0)
    shift = [T - n if pad_side == "left" else 0 for n in lengths]  # first real column per sample
    modality_ids = torch.full((B, T), -1, dtype=torch.long)
    slots = {}
    for m, where in places.items():
        slot = torch.full((len(where), max(n for _, _, n in where)), -1, dtype=torch.long)
        for s, (b, offset, n) in enumerate(where):
            start = shift[b] + offset
            slot[s, :n] = b * T + start + torch.arange(n)
            modality_ids[b, start : start + n] = names.index(m)
        slots[m] = slot

    columns = torch.arange(T)
    first = torch.tensor(shift)[:, None]
    last = first + torch.tensor(lengths)[:, None]
    padding = (columns < first) | (columns >= last)  # (B, T)
    positions = (columns - first).masked_fill(padding, 0)
    return Batch(
        inputs={m: preprocessors[m].collate(segs) for m, segs in segments.items()},
        slots=slots,
        modality_ids=modality_ids,
        padding=padding,
        prefix_len=torch.tensor(prefix, dtype=torch.long),
        positions=positions,
        layout=Layout(
            Placed(b, i, m, r, shift[b] + o, n, meta) for b, i, m, r, o, n, meta in layout
        ),
        padded=min(lengths) < T,
        prefixed=any(prefix),
    )
