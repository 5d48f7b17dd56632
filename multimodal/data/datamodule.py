"""`ExampleDataModule`: the shared DataLoader wiring for datasets that yield `Example`s.

Subclasses build `self.splits` ("train", "val", "test" -> Dataset) in `setup`. The tokenizers'
preprocessors (for `prepare`; built from the model's config, with no model) and the task's
collate function are handed in by `train()`.
"""

from collections.abc import Callable, Mapping, Sequence

import pytorch_lightning as pl
from torch.utils.data import Dataset

from multimodal.data.bad_samples import BadSamples
from multimodal.data.resumable import ResumableLoader, SeededBatches
from multimodal.errors import InputError
from multimodal.tokenizer import Preprocessor


class ExampleDataModule(pl.LightningDataModule):
    """Args:
    preprocessors: modality -> preprocessor, used by datasets to `prepare` raw inputs.
    collate_fn: examples -> `Batch` (the task's `collate` bound to the preprocessors).
    train_collate_fn: the same for training batches, if they differ (packed rows); None:
        `collate_fn`.
    batch_size, num_workers: DataLoader settings (`train_batch_size` may differ: a multi-task
        run gives each task a share of its steps).
    multiprocessing_context: how DataLoader workers start ("fork", "spawn", "forkserver");
        None: Python's default.
    on_bad_sample: "raise" stops at the first unreadable sample, "skip" counts and reports it,
        wherever it is met: reading the data at setup, or loading and batching it in a worker.
    order_seed: seed of the training order and of each sample's random draws (augmentation,
        redrawn pairs): they depend on it, the epoch and the sample's place, not on workers,
        so a resumed run sees what the uninterrupted one saw (`multimodal.data.resumable`).
    """

    def __init__(
        self,
        preprocessors: Mapping[str, Preprocessor],
        collate_fn: Callable,
        batch_size: int = 32,
        num_workers: int = 0,
        on_bad_sample: str = "raise",
        order_seed: int = 0,
        multiprocessing_context: str | None = None,
        train_collate_fn: Callable | None = None,
    ):
        super().__init__()
        self.preprocessors = dict(preprocessors)  # Hydra hands a mapping over as a DictConfig
        self.collate_fn = collate_fn
        self.train_collate_fn = train_collate_fn
        self.batch_size = self.train_batch_size = batch_size
        self.num_workers, self.multiprocessing_context = num_workers, multiprocessing_context
        self.bad_samples = BadSamples(on_bad_sample)
        self.order_seed = order_seed
        self.splits: dict[str, Dataset] = {}

    def preprocessor(self, modality: str) -> Preprocessor:
        if modality not in self.preprocessors:
            have = list(self.preprocessors)
            raise InputError(f"this data needs a {modality!r} tokenizer; the model has {have}")
        return self.preprocessors[modality]

    def loader(
        self, split: str, shuffle: bool = False, lengths: Sequence[float] | None = None
    ) -> ResumableLoader:
        """The split's loader, in order or shuffled (with `lengths`: batches of similar
        length), this process's share of it when distributed; under the skip policy bad
        samples are left out of batches and listed in `Batch.skipped`."""
        if split not in self.splits:
            raise InputError(f"data split {split!r} is not available; have {list(self.splits)}")
        packed = self.train_collate_fn if split == "train" else None
        collate = packed or self.collate_fn
        dataset, collate_fn = self.bad_samples.guard(self.splits[split], collate)
        trainer = self.trainer
        batches = SeededBatches(
            len(dataset),
            self.train_batch_size if split == "train" else self.batch_size,
            shuffle=shuffle,
            seed=self.order_seed,
            lengths=lengths,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
        )
        return ResumableLoader(
            dataset, batches, collate_fn, self.num_workers, self.multiprocessing_context
        )

    def train_dataloader(self) -> ResumableLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> ResumableLoader:
        return self.loader("val")

    def test_dataloader(self) -> ResumableLoader:
        return self.loader("test")
