"""`BadSamples`: the stop-or-skip policy for unreadable samples, and the record of what it skipped.

Each skipped sample is recorded once per occurrence with its stage: "setup" for the scan when
the data is read, "train", "val" or "test" for samples met in batches (a bad file met in every
epoch counts every time).
"""

from collections import Counter
from collections.abc import Callable, Iterable

from torch.utils.data import Dataset

from multimodal.data.skipping import CollateGood, SkipBadSamples
from multimodal.errors import InputError

POLICIES = ("raise", "skip")


class BadSamples:
    """With policy "raise" the first bad sample stops the run with its `InputError`; with
    "skip" it is left out, counted, and listed in `report()`. Nothing is dropped silently."""

    def __init__(self, policy: str = "raise"):
        if policy not in POLICIES:
            raise InputError(f"bad-sample policy {policy!r} is unknown; expected one of {POLICIES}")
        self.policy = policy
        self.entries: list[tuple[str, str]] = []  # (stage, reason) of every skipped sample

    @property
    def skipped(self) -> list[str]:
        return [reason for _, reason in self.entries]

    def handle(self, error: InputError, stage: str = "setup") -> None:
        if self.policy == "raise":
            raise error
        self.entries.append((stage, str(error)))

    def add(self, entries: Iterable[tuple[str, str]]) -> None:
        """Record samples skipped elsewhere (in DataLoader workers, on other processes)."""
        self.entries += [(str(stage), str(reason)) for stage, reason in entries]

    def guard(self, dataset: Dataset, collate_fn: Callable) -> tuple[Dataset, CollateGood]:
        """The dataset and collate function a DataLoader uses under this policy: with "skip", bad
        samples travel to the training process in `Batch.skipped` instead of stopping a worker."""
        skip = self.policy == "skip"
        return (SkipBadSamples(dataset) if skip else dataset), CollateGood(collate_fn, skip)

    def counts(self) -> dict[str, int]:
        """Stage -> samples skipped there, in the order the stages were met."""
        return dict(Counter(stage for stage, _ in self.entries))

    def as_dict(self) -> dict:
        """Plain data for a checkpoint: {"count", "stages", "reasons": [[stage, reason], ...]}."""
        reasons = [[stage, reason] for stage, reason in self.entries]
        return {"count": len(self.entries), "stages": self.counts(), "reasons": reasons}

    def report(self) -> str:
        if not self.entries:
            return "no bad samples"
        stages = ", ".join(f"{stage} {n}" for stage, n in self.counts().items())
        lines = [f"skipped {len(self.entries)} bad sample(s): {stages}"]
        for (stage, reason), n in Counter(self.entries).items():
            lines.append(f"  {stage}: {reason}" + (f" ({n} times)" if n > 1 else ""))
        return "\n".join(lines)
