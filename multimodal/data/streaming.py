"""Streaming data: shards written by `mm-data optimize`, read with litdata's own
`StreamingDataset` and `StreamingDataLoader`, from a local folder or an object-store URL.

Order and split are litdata's: each epoch the chunks are shuffled (seed `order_seed`), then the
samples inside each chunk, and the samples are dealt in whole batches to the ranks and, within
a rank, to its DataLoader workers, so that every rank and worker reads distinct samples. On one
rank every sample is read once per epoch. On R ranks litdata leaves out the fewer than R x B
samples at the end of an epoch that would give the ranks unequal steps (a distributed
collective would wait forever); the loader warns how many. The order depends on the number of
ranks, workers and the batch size, unlike `ResumableLoader`'s.

Resume: `StreamingDataLoader` has `state_dict` / `load_state_dict` (epoch, samples yielded,
the next worker), which Lightning saves in the checkpoint and restores as it does
`ResumableLoader`'s, so a resumed run reads the batch the interrupted one would have read next.
Each sample's random draws (augmentation) are seeded by (order_seed, epoch, the sample's index),
as in `multimodal.data.resumable`, so they do not depend on the worker that reads it.
"""

import os
from collections.abc import Callable, Sequence

import torch
from litdata import StreamingDataLoader, StreamingDataset
from litdata.streaming.sampler import ChunkedIndex
from litdata.utilities.env import _DistributedEnv
from pytorch_lightning.utilities import rank_zero_warn

from multimodal.data.datamodule import ExampleDataModule
from multimodal.data.optimize import is_url
from multimodal.data.resumable import sample_seed
from multimodal.data.skipping import CollateGood, Skipped
from multimodal.errors import InputError

SPLITS = ("train", "val", "test")


class StreamingExamples(StreamingDataset):
    """litdata's dataset whose items are `Example`s: `make(sample)` of each stored sample, under
    the sample's own seed; with `skip`, an `InputError` comes out as a `Skipped` marker."""

    def __init__(self, input_dir: str, make: Callable, order_seed: int = 0, skip=False, **kwargs):
        super().__init__(input_dir, seed=order_seed, **kwargs)
        self.make, self.order_seed, self.skip = make, order_seed, skip

    def __getitem__(self, index):
        sample = super().__getitem__(index)
        i = index.index if isinstance(index, ChunkedIndex) else int(index)
        with torch.random.fork_rng(devices=[]):  # CPU draws only: `prepare` runs on the CPU
            torch.default_generator.manual_seed(
                sample_seed(self.order_seed, self.current_epoch, 0, i)
            )
            try:
                return self.make(sample)
            except InputError as e:
                if not self.skip:
                    raise
                return Skipped(str(e))


class StreamingLoader(StreamingDataLoader):
    """litdata's loader, whose restored position serves one epoch.

    After `load_state_dict`, litdata starts every `iter()` at the restored position until an
    iteration runs to its end. Lightning ends an epoch after `len(loader)` batches without
    running the iteration to its end, so the next epoch would start at the restored position
    again; here the second `iter()` after a restore starts the next epoch.
    """

    resumed = False  # an iteration began at a restored position

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.resumed = False

    def __iter__(self):
        if self.restore and self.resumed:
            self.restore = False  # the restored epoch is over: this iteration starts the next
        self.resumed = self.restore
        return super().__iter__()


def first_sample(folder: str, **kwargs) -> dict:
    """Sample 0 of a litdata dataset; `InputError` naming `folder` if it is not one."""
    try:
        return StreamingDataset(folder, **kwargs)[0]
    except Exception as e:  # litdata raises assertions, ValueErrors and OS errors alike
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"shard folder {folder} cannot be read as litdata shards ({reason}); expected the "
            "output of `mm-data optimize`"
        ) from None


class StreamingDataModule(ExampleDataModule):
    """Shards under `root` (`<root>/<split>/`), read through litdata.

    Subclasses give `fields` (the keys every stored sample has; `check` refuses shards of
    other fields) and `maker(split)`: a picklable stored sample -> `Example`.

    Args (besides `ExampleDataModule`'s):
        root: the folder or URL `mm-data optimize --out` wrote.
        splits: the splits to read; None: the split folders found under a local `root` (a URL
            cannot be listed: name them).
        cache_dir: local folder for chunks read from a URL; None: litdata's default.
        max_cache_size: most disk the cache may use, e.g. "50GB"; None: litdata's default.
    """

    fields: frozenset[str] = frozenset()
    kind = "data"  # for messages: the `mm-data optimize` sub-command that writes these shards

    def __init__(
        self,
        root: str,
        splits: Sequence[str] | None = None,
        cache_dir: str | None = None,
        max_cache_size: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.root = str(root).rstrip("/")
        self.split_names = list(splits) if splits is not None else None
        self.cache_options = {"cache_dir": cache_dir, "max_cache_size": max_cache_size}

    def folder(self, split: str) -> str:
        return f"{self.root}/{split}"

    def found_splits(self) -> list[str]:
        if self.split_names is not None:
            return self.split_names
        if is_url(self.root):
            raise InputError(
                f"data.splits must name the splits under shard URL {self.root}, e.g. [train, val]"
            )
        if not os.path.isdir(self.root):
            raise InputError(
                f"shard folder {self.root} does not exist (write it with `mm-data optimize "
                f"{self.kind}`)"
            )
        names = [s for s in SPLITS if os.path.isfile(f"{self.folder(s)}/index.json")]
        if not names:
            raise InputError(
                f"shard folder {self.root} holds no litdata split folders (train/index.json, ...); "
                "expected the output of `mm-data optimize`"
            )
        return names

    def setup(self, stage=None) -> None:
        if self.splits:
            return
        for split in self.found_splits():
            self.check(first_sample(self.folder(split), **self.cache_options), self.folder(split))
            self.splits[split] = self.dataset(split)

    def check(self, sample: dict, folder: str) -> None:
        """Refuse shards these settings cannot read, from their sample 0."""
        self.check_fields(sample, folder, self.fields)

    def check_fields(self, sample, folder: str, *expected: frozenset[str]) -> frozenset[str]:
        """The sample's fields if they are one of `expected`; else one sentence naming both."""
        have = frozenset(sample) if isinstance(sample, dict) else frozenset()
        if have not in expected:
            want = " or ".join(str(sorted(fields)) for fields in expected)
            raise InputError(
                f"shard folder {folder} holds samples with fields {sorted(have)}; expected "
                f"{want} (written by `mm-data optimize {self.kind}`)"
            )
        return have

    def maker(self, split: str) -> Callable:
        raise NotImplementedError

    def dataset(self, split: str) -> StreamingExamples:
        skip = self.bad_samples.policy == "skip"
        return StreamingExamples(
            self.folder(split), self.maker(split), self.order_seed, skip, **self.cache_options
        )

    def loader(self, split: str, shuffle: bool = False) -> StreamingLoader:
        """litdata's loader of the split, this process's share of it when distributed."""
        if split not in self.splits:
            raise InputError(f"data split {split!r} is not available; have {list(self.splits)}")
        dataset, trainer = self.dataset(split), self.trainer
        dataset.set_shuffle(shuffle)
        if trainer is not None:
            world, rank, nodes = trainer.world_size, trainer.global_rank, trainer.num_nodes
            dataset.distributed_env = _DistributedEnv(world, rank, nodes)
            dataset.set_drop_last(world > 1)
        batch_size = self.train_batch_size if split == "train" else self.batch_size
        packed = self.train_collate_fn if split == "train" else None  # packed rows, if any
        collate = packed or self.collate_fn
        loader = StreamingLoader(
            dataset,
            batch_size=batch_size,
            num_workers=self.num_workers,
            collate_fn=CollateGood(collate, self.bad_samples.policy == "skip"),
            multiprocessing_context=self.multiprocessing_context if self.num_workers else None,
        )
        self.warn_left_out(split, dataset, batch_size)
        return loader

    def warn_left_out(self, split: str, dataset: StreamingExamples, batch_size: int) -> None:
        world = dataset.distributed_env.world_size
        total = sum(end - start for start, end in dataset.region_of_interest)
        left = total - world * len(dataset)
        if left > 0:
            rank_zero_warn(
                f"the {split} split of {self.root} leaves out {left} of {total} samples each "
                f"epoch: {world} ranks take whole batches of {batch_size} and as many each"
            )
