"""`pack`: samples of any modalities packed into rows of a fixed length, instead of one padded
row each.

Each sample keeps its own tokens, positions (0, 1, ... from its start, so rotary positions
restart; image 2D positions live inside the image tokenizer and do not change) and prefix;
`Batch.documents` names each token's sample, and the attention mask lets no token see another
sample's (`masks.attention_mask`). So a packed row gives every sample the hidden states it
gets alone. Samples are placed first-fit, longest first; nothing is cut.

Shapes: B rows, T = row_len tokens.
"""

from collections.abc import Mapping, Sequence

import torch

from multimodal.batch import Batch, check_sample, collate, marked_length
from multimodal.errors import InputError
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor


def first_fit(lengths: Sequence[int], row_len: int) -> list[list[int]]:
    """Sample indices per row, first-fit decreasing: longest first, each sample goes into the
    first row with room for it (rows hold their samples in index order)."""
    for i, n in enumerate(lengths):
        if n > row_len:
            raise InputError(f"sample {i} is {n} tokens long; packed rows hold {row_len} tokens")
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        n = lengths[i]
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(i)
                room[r] -= n
                break
        else:
            rows.append([i])
            room.append(row_len - n)
    return [sorted(row) for row in rows]


def pack(
    samples: Sequence[Sequence[Segment]],
    preprocessors: Mapping[str, Preprocessor],
    row_len: int,
    prefix_lens: Sequence[int] | None = None,
    markers: bool = True,
) -> Batch:
    """Samples packed into rows of `row_len` tokens (as `collate` lays each out, boundary
    markers included); `Batch.documents` holds each token's sample index, -1 at padding."""
    if not samples:
        raise InputError("the batch is empty; expected at least one sample")
    prefixes = list(prefix_lens) if prefix_lens is not None else [0] * len(samples)
    for i, sample in enumerate(samples):
        check_sample(i, sample, preprocessors)
    sizes = [marked_length(s, preprocessors, markers, p) for s, p in zip(samples, prefixes)]
    rows = first_fit([n for n, _ in sizes], row_len)
    batch = collate(
        [[seg for i in row for seg in samples[i]] for row in rows],
        preprocessors,
        max_len=row_len,
        markers=markers,
        pad_to=row_len,
    )
    B, T = batch.shape
    documents = torch.full((B, T), -1, dtype=torch.long)
    positions = torch.zeros(B, T, dtype=torch.long)
    prefix = torch.zeros(B, T, dtype=torch.long)
    for r, row in enumerate(rows):
        start = 0
        for i in row:
            n, p = sizes[i]
            documents[r, start : start + n] = i
            positions[r, start : start + n] = torch.arange(n)
            prefix[r, start : start + n] = p
            start += n
    batch.documents, batch.positions, batch.prefix_len = documents, positions, prefix
    batch.prefixed = any(p for _, p in sizes)
    return batch
