"""Resumable data order: the same batches and sample randomness with any workers, after a restart,
and split between ranks without overlap."""

import pytest
import torch
from torch.utils.data import Dataset

from multimodal.data.resumable import ResumableLoader, SeededBatches, sample_seed


class Noisy(Dataset):
    """Sample i is (i, a random draw): the draw shows which seed the sample was made under."""

    def __len__(self) -> int:
        return 23

    def __getitem__(self, i: int):
        return i, float(torch.rand(()))


def run(loader: ResumableLoader, epochs: int = 2) -> list:
    seen = []
    for epoch in range(epochs):
        loader.batches.set_epoch(epoch)
        seen += [list(batch) for batch in loader]
    return seen


def loader(num_workers=0, **kwargs) -> ResumableLoader:
    batches = SeededBatches(23, 4, shuffle=True, seed=7, **kwargs)
    return ResumableLoader(Noisy(), batches, collate_fn=list, num_workers=num_workers)


def test_order_and_draws_do_not_depend_on_workers():
    alone = run(loader())
    assert run(loader(num_workers=2)) == alone
    first = [i for batch in alone[:6] for i, _ in batch]
    assert sorted(first) == list(range(23))  # one epoch: every sample once
    assert alone[:6] != alone[6:]  # a new order and new draws in the next epoch


def test_restored_position_continues_exactly():
    full = run(loader())
    for stop in (0, 1, 4, 6, 8):  # inside the first epoch, at its end, inside the second
        a = loader()
        got, epoch = [], 0
        it = iter(a)
        for _ in range(stop):
            try:
                got.append(list(next(it)))
            except StopIteration:
                epoch += 1
                a.batches.set_epoch(epoch)
                it = iter(a)
                got.append(list(next(it)))
        state = a.state_dict()
        b = loader()
        b.load_state_dict(state)
        b.batches.set_epoch(state["epoch"])
        got += [list(x) for x in b]
        if state["epoch"] == 0:
            b.batches.set_epoch(1)
            got += [list(x) for x in b]
        assert got == full, stop


def test_cycles_within_an_epoch_differ_and_restore():
    a = loader()
    first, second = list(a), list(a)  # a shorter loader cycled twice in one epoch
    assert first != second
    b = loader()
    b.load_state_dict({"epoch": 0, "cycle": 1, "yielded": 2})
    assert list(b) == second[2:]


def test_ranks_split_each_epoch_and_run_as_many_steps():
    ranks = [run(loader(rank=r, world_size=2), epochs=1) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 3  # 6 batches, 3 each
    seen = [i for r in ranks for batch in r for i, _ in batch]
    assert sorted(seen) == list(range(23))
    three = [run(loader(rank=r, world_size=4), epochs=1) for r in range(4)]
    assert {len(r) for r in three} == {2}  # 6 batches over 4 ranks: two ranks repeat one


def test_a_rank_past_the_last_batch_still_runs_one():
    # two batches over three ranks: rank 2 repeats batch 0, or its collectives would wait
    steps = [list(SeededBatches(5, 3, rank=r, world_size=3)) for r in range(3)]
    assert [[[i for i, _ in b] for b in s] for s in steps] == [[[0, 1, 2]], [[3, 4]], [[0, 1, 2]]]


def test_length_grouped_batches_hold_similar_lengths():
    lengths = [float(i % 11) for i in range(200)]
    batches = SeededBatches(200, 10, shuffle=True, seed=1, lengths=lengths, pool=20)
    order = [[i for i, _ in batch] for batch in batches]
    assert sorted(i for b in order for i in b) == list(range(200))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in order)
    assert spread / len(order) < 2.0  # random batches of 10 would span about 9


def test_unshuffled_order_is_index_order():
    batches = SeededBatches(5, 2)
    assert [[i for i, _ in b] for b in batches] == [[0, 1], [2, 3], [4]]


def test_sample_seed_separates_its_arguments():
    seeds = {
        sample_seed(s, e, c, p)
        for s in range(3)
        for e in range(3)
        for c in range(3)
        for p in range(3)
    }
    assert len(seeds) == 81 and all(0 <= s < 2**63 for s in seeds)


def test_lengths_must_match():
    with pytest.raises(ValueError):
        SeededBatches(3, 2, lengths=[1.0])
