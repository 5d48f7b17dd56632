"""`MultiTaskDataModule`: several tasks' datamodules as one, through Lightning's CombinedLoader.

Each training step holds one batch of every task (mode "max_size_cycle": an epoch lasts as long
as the longest task's loader, shorter ones start over). Validation and test run each task's
loader in turn (mode "sequential"). Batches carry their task's name in `batch.targets`, so the
module sends each to its task.
"""

from collections.abc import Mapping

import pytorch_lightning as pl
from pytorch_lightning.utilities import CombinedLoader

from multimodal.data.datamodule import ExampleDataModule
from multimodal.errors import InputError


def shares(batch_size: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """Split `batch_size` examples between tasks in proportion to their ratios (each gets >= 1)."""
    if batch_size < len(ratios):
        raise InputError(
            f"mix_batch_size {batch_size} is smaller than the number of tasks ({len(ratios)}); "
            "each step needs at least one example of every task"
        )
    for name, r in ratios.items():
        if not r > 0:
            raise InputError(f"tasks.{name}.ratio must be positive, got {r}")
    total = sum(ratios.values())
    return {name: max(1, round(batch_size * r / total)) for name, r in ratios.items()}


class MultiTaskDataModule(pl.LightningDataModule):
    """Args:
    datamodules: task name -> that task's datamodule (its collate function fills the task's
        targets).
    ratios: task name -> share of each training step's examples; used with `batch_size`.
    batch_size: training examples per step over all tasks, split by `ratios`; None keeps each
        datamodule's own batch size.
    """

    def __init__(
        self,
        datamodules: Mapping[str, ExampleDataModule],
        ratios: Mapping[str, float] | None = None,
        batch_size: int | None = None,
    ):
        super().__init__()
        if not datamodules:
            raise InputError("multi-task training needs at least one task")
        self.datamodules = dict(datamodules)
        if batch_size is not None:
            ratios = {name: (ratios or {}).get(name, 1.0) for name in self.datamodules}
            for name, size in shares(batch_size, ratios).items():
                self.datamodules[name].train_batch_size = size

    def setup(self, stage: str | None = None) -> None:
        for dm in self.datamodules.values():
            dm.trainer = self.trainer
            dm.setup(stage)

    def has(self, split: str) -> bool:
        """Whether any task has this split."""
        return any(split in dm.splits for dm in self.datamodules.values())

    def combined(self, split: str, mode: str) -> CombinedLoader:
        loaders = {
            name: dm.train_dataloader() if split == "train" else dm.loader(split)
            for name, dm in self.datamodules.items()
            if split in dm.splits
        }
        return CombinedLoader(loaders, mode)

    def train_dataloader(self) -> CombinedLoader:
        return self.combined("train", "max_size_cycle")

    def val_dataloader(self) -> CombinedLoader:
        return self.combined("val", "sequential")

    def test_dataloader(self) -> CombinedLoader:
        return self.combined("test", "sequential")

    def setup_skips(self) -> list[tuple[str, str]]:
        """(stage, reason) of every sample the tasks' data left out when it was read; the run's
        whole record, with the samples skipped in batches, is `MultimodalModule.bad_samples`."""
        return [entry for dm in self.datamodules.values() for entry in dm.bad_samples.entries]
