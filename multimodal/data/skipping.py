"""Bad samples met while iterating, inside DataLoader workers.

An error raised in a worker stops the run with a traceback, and a sample that breaks collate
(longer than the context, a target out of range) takes its whole batch with it. So under the
skip policy a dataset's `InputError` becomes a `Skipped(reason)` marker, and `CollateGood`
drops the markers and the samples that fail to collate, collates the rest, and hands the
reasons to the training process in `Batch.skipped`, where they are counted. Under the raise
policy `CollateGood` only names the sample that broke collate.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.example import Example


@dataclass(frozen=True)
class Skipped:
    """What a dataset yields under the skip policy in place of a sample it could not read."""

    reason: str


class SkipBadSamples(Dataset):
    """`dataset` whose items that raise `InputError` come out as `Skipped` markers."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        try:
            return self.dataset[i]
        except InputError as e:
            return Skipped(str(e))


def describe(example: Example) -> str:
    """Where an example came from, for messages: its manifest line, file or text offset."""
    meta = example.meta
    named = [str(meta[k]) for k in ("where", "path", "source") if k in meta]
    if named:
        return ", ".join(named)
    if "offset" in meta:
        return f"text window at token offset {meta['offset']}"
    return "a sample"


def empty_batch(skipped: list[str]) -> Batch:
    """A batch of no samples: what is left when every sample of a batch was bad."""
    none = torch.zeros(0, 0, dtype=torch.long)
    return Batch(
        inputs={},
        slots={},
        modality_ids=none,
        padding=none.bool(),
        prefix_len=torch.zeros(0, dtype=torch.long),
        positions=none,
        skipped=skipped,
    )


class CollateGood:
    """`collate_fn` that names the samples it cannot collate and, with `skip`, leaves them out.

    When collating the whole batch raises `InputError`, each sample is collated alone to find
    the ones at fault (only then, so a good batch costs one call). Picklable, as DataLoader
    workers need.
    """

    def __init__(self, collate_fn: Callable[[Sequence[Example]], Batch], skip: bool):
        self.collate_fn, self.skip = collate_fn, skip

    def __call__(self, items: Sequence) -> Batch:
        skipped = [x.reason for x in items if isinstance(x, Skipped)]
        examples = [x for x in items if not isinstance(x, Skipped)]
        if not examples:
            return empty_batch(skipped)
        try:
            batch = self.collate_fn(examples)
        except InputError as whole:
            good = []
            for ex in examples:
                try:
                    self.collate_fn([ex])
                except InputError as e:
                    if not self.skip:
                        raise InputError(f"{describe(ex)}: {e}") from None
                    skipped.append(f"{describe(ex)}: {e}")
                    continue
                good.append(ex)
            if len(good) == len(examples):
                raise whole  # only the samples together fail: not a bad sample, a bug to see
            batch = self.collate_fn(good) if good else empty_batch([])
        if skipped:
            batch.skipped = skipped
        return batch
