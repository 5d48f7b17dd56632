"""Resumable data order: where a run is in its data is part of its checkpoint.

The order of every epoch and the randomness of every sample (augmentation, redrawn pairs) are
functions of (seed, epoch, cycle, position), never of a worker's RNG, so they are the same with
any number of workers and after a restart. A loader's position is three numbers (epoch, cycle,
batches yielded), saved by Lightning in the checkpoint through `state_dict` (Lightning restores
any train loader that has `state_dict` / `load_state_dict`, as it does LitData's streaming
loaders). A cycle is one pass over a loader; a multi-task run cycles its shorter loaders
several times per epoch.

Shapes: N samples, B batch size, R ranks.
"""

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def sample_seed(seed: int, epoch: int, cycle: int, position: int) -> int:
    """The seed of the sample at `position` (0, 1, ...) of a cycle's order, a 63-bit integer;
    position -1 seeds the order itself."""
    keys = [seed, epoch, cycle, position + 1]
    state = np.random.SeedSequence(keys).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class SeededBatches(Sampler[list[tuple[int, int]]]):
    """Batches of (index, seed) pairs in an order fixed by (seed, epoch, cycle).

    Args:
        size: number of samples N.
        batch_size: samples per batch B (the last batch of an epoch may be shorter).
        shuffle: a new permutation each epoch and cycle; else index order.
        seed: the run's data seed.
        lengths: each sample's length; with `shuffle`, batches then hold samples of similar
            length: the permutation is cut into pools of `pool` batches, each pool sorted by
            length, and the batches shuffled.
        rank, world_size: this process takes every `world_size`-th batch from `rank`; ranks
            short of a batch repeat their first ones, so every rank runs as many steps.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        lengths: Sequence[float] | None = None,
        pool: int = 50,
        rank: int = 0,
        world_size: int = 1,
    ):
        if lengths is not None and len(lengths) != size:
            raise ValueError(f"{len(lengths)} lengths for {size} samples")
        self.size, self.batch_size, self.shuffle, self.seed = size, batch_size, shuffle, seed
        self.lengths, self.pool = lengths, pool
        self.rank, self.world_size = rank, world_size
        self.epoch, self.cycle, self.skip = 0, 0, 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at every epoch start; a new epoch starts at its first cycle."""
        if epoch != self.epoch:
            self.epoch, self.cycle = epoch, 0

    def order(self, epoch: int, cycle: int) -> list[list[int]]:
        """All ranks' batches of one cycle, as sample indices."""
        if not self.shuffle:
            indices = list(range(self.size))
            return [indices[i : i + self.batch_size] for i in range(0, self.size, self.batch_size)]
        g = torch.Generator().manual_seed(sample_seed(self.seed, epoch, cycle, -1))
        order = torch.randperm(self.size, generator=g).tolist()
        if self.lengths is None:
            return [order[i : i + self.batch_size] for i in range(0, self.size, self.batch_size)]
        span, batches = self.batch_size * self.pool, []
        for start in range(0, self.size, span):
            chunk = sorted(order[start : start + span], key=self.lengths.__getitem__)
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]

    def __len__(self) -> int:
        batches = -(-self.size // self.batch_size)
        return -(-batches // self.world_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, cycle, skip = self.epoch, self.cycle, self.skip
        self.cycle, self.skip = cycle + 1, 0
        batches = self.order(epoch, cycle)
        mine = list(range(self.rank, len(batches), self.world_size))
        if not mine and batches:  # fewer batches than ranks: every rank still runs one
            mine = [self.rank % len(batches)]
        mine += mine[: len(self) - len(mine)]  # (len(self),) batch numbers
        for b in mine[skip:]:
            yield [
                (i, sample_seed(self.seed, epoch, cycle, b * self.batch_size + k))
                for k, i in enumerate(batches[b])
            ]


class SeededFetch(Dataset):
    """A batch of (index, seed) keys to the list of samples, each made under its own seed."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, keys: list[tuple[int, int]]) -> list:
        """Each sample made with the CPU generator seeded by its key, which is then restored.
        (The generator itself, not `torch.manual_seed`, which seeds every device too and cost
        90 us a sample, a tenth of a multi-task step's data time.)"""
        samples, generator = [], torch.default_generator
        for i, seed in keys:
            state = generator.get_state()
            generator.manual_seed(seed)
            try:
                samples.append(self.dataset[i])
            finally:
                generator.set_state(state)
        return samples


class ResumableLoader(DataLoader):
    """A DataLoader over `SeededBatches` whose position Lightning saves and restores.

    Args:
        dataset: a map-style dataset.
        batches: the batch order.
        collate_fn: a list of samples to a batch.
        num_workers: DataLoader workers (persistent when more than 0).
        multiprocessing_context: how workers start ("fork", "spawn", "forkserver"); None: the
            default. Everything above is picklable, as "spawn" and "forkserver" need.
    """

    def __init__(
        self,
        dataset: Dataset,
        batches: SeededBatches,
        collate_fn: Callable,
        num_workers: int = 0,
        multiprocessing_context: str | None = None,
    ):
        super().__init__(
            SeededFetch(dataset),
            sampler=batches,
            batch_size=None,
            collate_fn=collate_fn,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            multiprocessing_context=multiprocessing_context if num_workers > 0 else None,
        )
        self.batches, self.cycle, self.yielded = batches, 0, 0

    def __iter__(self) -> Iterator:
        self.cycle, self.yielded = self.batches.cycle, self.batches.skip
        for batch in super().__iter__():
            self.yielded += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.batches.epoch, "cycle": self.cycle, "yielded": self.yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batches.epoch, self.batches.cycle = int(state["epoch"]), int(state["cycle"])
        self.batches.skip = int(state["yielded"])
