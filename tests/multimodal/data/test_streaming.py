"""Streaming order: litdata deals distinct samples to workers and ranks, an epoch reads each
sample once, a restored loader continues exactly, and a sample's random draws do not depend on
the worker that reads it."""

from itertools import islice
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from multimodal.data.optimize import Output, optimize_images
from multimodal.data.streaming_sets import StreamingImageDataModule
from multimodal.errors import InputError
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor

CLASSES = ["a", "b", "c", "d"]
AUGMENTED = ImagePreprocessor(patch_size=4, channels=1, augment=[v2.RandomAffine(degrees=30)])


class Collected(list):
    """A batch as the list of its examples (a list that can carry `skipped`)."""


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """32 small images of 4 classes as shards of several chunks."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c in CLASSES:
        (root / c).mkdir()
        for i in range(8):
            pixels = rng.integers(0, 256, (8 + i % 3 * 4, 8), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.png")
    out = root.parent / "shards"
    optimize_images(Output(str(out), chunk_bytes="1kB"), root, val_fraction=0.0)
    assert len(list((out / "train").glob("chunk-*.bin"))) >= 4
    return out


def module(shards, workers=0, batch_size=4, rank=None, classes=CLASSES, policy="raise"):
    data = StreamingImageDataModule(
        shards,
        classes=classes,
        preprocessors={"image": AUGMENTED},
        collate_fn=Collected,
        batch_size=batch_size,
        num_workers=workers,
        on_bad_sample=policy,
        order_seed=3,
    )
    if rank is not None:
        data.trainer = SimpleNamespace(global_rank=rank, world_size=2, num_nodes=1)
    data.setup()
    return data


def paths(batches) -> list[str]:
    return [ex.meta["path"] for batch in batches for ex in batch]


def drawn(batches) -> dict[str, torch.Tensor]:
    return {ex.meta["path"]: ex.segments[0].data for batch in batches for ex in batch}


def test_two_workers_read_every_sample_once_an_epoch(shards):
    loader = module(shards, workers=2).train_dataloader()
    first, second = list(loader), list(loader)
    assert len(first) == len(loader) == 8
    assert sorted(paths(first)) == sorted(paths(second))
    assert len(set(paths(first))) == 32  # no sample twice
    assert paths(first) != paths(second)  # a new order each epoch
    one = drawn(first)
    assert any(not torch.equal(one[p], x) for p, x in drawn(second).items())  # new draws


def test_two_ranks_of_two_workers_read_distinct_samples(shards):
    ranks = [list(module(shards, workers=2, rank=r).train_dataloader()) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 4
    assert sorted(paths(ranks[0]) + paths(ranks[1])) == sorted(paths(ranks[0] + ranks[1]))
    assert len(set(paths(ranks[0]) + paths(ranks[1]))) == 32  # the whole set, once
    with pytest.warns(UserWarning, match="leaves out 2 of 32 samples each epoch: 2 ranks"):
        odd = [list(module(shards, batch_size=3, rank=r).train_dataloader()) for r in (0, 1)]
    assert len(odd[0]) == len(odd[1]) == 5  # as many steps on each rank
    assert len(set(paths(odd[0]) + paths(odd[1]))) == 30


def test_draws_depend_on_the_sample_not_the_worker(shards):
    alone = drawn(module(shards).train_dataloader())
    two = drawn(module(shards, workers=2).train_dataloader())
    assert alone.keys() == two.keys()
    assert all(torch.equal(alone[p], two[p]) for p in alone)


def take(loader, count: int, done: int = 0) -> list:
    """`count` batches as Lightning's fit loop takes them: `len(loader)` an epoch (`done` of the
    first one taken before), never asking an iteration for more."""
    got = []
    while len(got) < count:
        got += islice(iter(loader), min(len(loader) - done, count - len(got)))
        done = 0
    return got


@pytest.mark.parametrize("workers", [0, 2])
def test_a_restored_loader_continues_exactly(shards, workers, tmp_path):
    full = take(module(shards, workers=workers).train_dataloader(), 24)  # three epochs of 8
    for stop in (3, 8, 11):  # inside the first epoch, at its end, inside the second
        loader = module(shards, workers=workers).train_dataloader()
        got = take(loader, stop)
        torch.save(loader.state_dict(), tmp_path / "state.pt")
        state = torch.load(tmp_path / "state.pt", weights_only=True)  # plain, as checkpoints are
        resumed = module(shards, workers=workers).train_dataloader()
        resumed.load_state_dict(state)
        got += take(resumed, len(full) - stop, done=stop % 8)
        assert paths(got) == paths(full), stop
        ours, theirs = drawn(got[stop:]), drawn(full[stop:])
        assert all(torch.equal(ours[p], theirs[p]) for p in theirs), stop


def test_a_sample_that_fails_in_a_worker_is_skipped_or_stops_the_run(shards):
    batches = list(module(shards, workers=2, classes=CLASSES[:3], policy="skip").train_dataloader())
    skipped = [reason for batch in batches for reason in getattr(batch, "skipped", [])]
    assert len(skipped) == 8 and all("has class 'd', not one of" in r for r in skipped)
    kept = [batch for batch in batches if isinstance(batch, Collected)]  # others: all bad
    assert len(paths(kept)) == 24 and not any("/d/" in p for p in paths(kept))
    with pytest.raises(InputError, match=r"image .*/d/\d.png has class 'd'"):
        list(module(shards, classes=CLASSES[:3]).train_dataloader())
