"""`ExampleDataModule`: the shared DataLoader wiring for datasets that yield `Example`s.

Subclasses build `self.splits` ("train", "val", "test" -> Dataset) in `setup`. The model's
tokenizers (for `prepare`) and the task's collate function are handed in by `train()`.
"""

from collections.abc import Callable, Mapping

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from multimodal.data.bad_samples import BadSamples
from multimodal.errors import InputError
from multimodal.tokenizer import Tokenizer


class ExampleDataModule(pl.LightningDataModule):
    """Args:
    tokenizers: modality -> tokenizer, used by datasets to `prepare` raw inputs.
    collate_fn: examples -> `Batch` (the task's `collate` bound to the model's tokenizers).
    batch_size, num_workers: DataLoader settings (`train_batch_size` may differ: a multi-task
        run gives each task a share of its steps).
    on_bad_sample: "raise" stops at the first unreadable sample, "skip" counts and reports it,
        wherever it is met: reading the data at setup, or loading and batching it in a worker.
    """

    def __init__(
        self,
        tokenizers: Mapping[str, Tokenizer],
        collate_fn: Callable,
        batch_size: int = 32,
        num_workers: int = 0,
        on_bad_sample: str = "raise",
    ):
        super().__init__()
        self.tokenizers = tokenizers
        self.collate_fn = collate_fn
        self.batch_size = self.train_batch_size = batch_size
        self.num_workers = num_workers
        self.bad_samples = BadSamples(on_bad_sample)
        self.splits: dict[str, Dataset] = {}

    def tokenizer(self, modality: str) -> Tokenizer:
        if modality not in self.tokenizers:
            raise InputError(
                f"this data needs a {modality!r} tokenizer; the model has {list(self.tokenizers)}"
            )
        return self.tokenizers[modality]

    def loader(self, split: str, shuffle: bool = False, batch_sampler=None) -> DataLoader:
        """The split's DataLoader, batched by `batch_sampler` if given, else in order or shuffled;
        under the skip policy bad samples are left out of batches and listed in `Batch.skipped`."""
        if split not in self.splits:
            raise InputError(f"data split {split!r} is not available; have {list(self.splits)}")
        dataset, collate_fn = self.bad_samples.guard(self.splits[split], self.collate_fn)
        batching = {"batch_sampler": batch_sampler}
        if batch_sampler is None:
            size = self.train_batch_size if split == "train" else self.batch_size
            batching = {"batch_size": size, "shuffle": shuffle}
        return DataLoader(
            dataset,
            num_workers=self.num_workers,
            collate_fn=collate_fn,
            persistent_workers=self.num_workers > 0,
            **batching,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")
