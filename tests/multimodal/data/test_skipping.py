"""Bad samples met in DataLoader workers: skipped and named by the skip policy, or stopping the
run naming the file; collate drops only the samples that break it; the record of what was
skipped is exact and plain."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal.batch import Batch
from multimodal.data.bad_samples import BadSamples
from multimodal.data.images import ImageFolderDataModule
from multimodal.data.skipping import CollateGood, SkipBadSamples, Skipped
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.tasks.classification import Classification
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor

PREPROCESSORS = {"image": ImagePreprocessor(patch_size=4, channels=1)}


def collate_fn(max_len=64):
    """A picklable examples -> `Batch` with class targets, as training uses."""
    return Classification(num_classes=2).collator(PREPROCESSORS, max_len)


def image_tree(root: Path) -> Path:
    for label in ("a", "b"):
        for i in range(5):
            path = root / label / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), 20 * i, np.uint8)).save(path)
    (root / "b" / "broken.png").write_bytes(b"no image here")
    return root


def image_data(root: Path, policy: str) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(
        root=root,
        preprocessors=PREPROCESSORS,
        collate_fn=collate_fn(),
        batch_size=4,
        num_workers=2,
        on_bad_sample=policy,
        verify=False,
        val_fraction=0.0,
    )
    dm.setup("fit")
    return dm


def test_a_bad_file_met_in_a_worker_is_skipped_and_named(tmp_path):
    dm = image_data(image_tree(tmp_path), "skip")
    for _ in range(2):  # persistent workers, two epochs: met and named each time
        batches = list(dm.train_dataloader())
        assert all(isinstance(b, Batch) for b in batches)
        assert sum(b.shape[0] for b in batches) == 10  # every good image, once
        skipped = [reason for b in batches for reason in b.skipped]
        assert len(skipped) == 1 and "b/broken.png is not a readable image" in skipped[0]
        labels = torch.cat([b.targets["classify"] for b in batches])
        assert labels.tolist().count(0) == labels.tolist().count(1) == 5


def test_raise_policy_stops_at_a_bad_file_met_in_a_worker(tmp_path):
    dm = image_data(image_tree(tmp_path), "raise")
    with pytest.raises(InputError, match=r"b/broken\.png is not a readable image"):
        list(dm.train_dataloader())


def example(name: str, pixels: int) -> Example:
    seg = PREPROCESSORS["image"].prepare(torch.zeros(1, pixels, pixels))
    return Example([seg], target=0, meta={"path": name})


def test_collate_leaves_out_only_the_samples_that_break_it():
    items = [example("small.png", 8), example("large.png", 16), Skipped("unreadable.png")]
    batch = CollateGood(collate_fn(max_len=8), skip=True)(items)
    assert batch.shape == (1, 4) and batch.targets["classify"].tolist() == [0]
    assert batch.skipped == [
        "unreadable.png",
        "large.png: sample 0 is 16 tokens long; the model's context is 8 tokens",
    ]
    with pytest.raises(InputError, match="^large.png: sample 0 is 16 tokens long"):
        CollateGood(collate_fn(max_len=8), skip=False)(items[:2])


def test_a_batch_of_only_bad_samples_is_empty_and_lists_them():
    items = [Skipped("a.png is empty"), example("large.png", 16)]
    batch = CollateGood(collate_fn(max_len=8), skip=True)(items)
    assert batch.shape == (0, 0) and not batch.targets
    assert batch.skipped[0] == "a.png is empty" and batch.skipped[1].startswith("large.png: ")


def test_samples_that_fail_only_together_are_not_blamed():
    def pairs_fail(examples):
        if len(examples) > 1:
            raise InputError("these samples cannot share a batch")
        return collate_fn()(examples)

    with pytest.raises(InputError, match="cannot share a batch"):
        CollateGood(pairs_fail, skip=True)([example("a.png", 8), example("b.png", 8)])


def test_only_bad_input_becomes_a_marker():
    class Flaky:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            if i == 0:
                raise InputError("clip.wav is truncated")
            raise RuntimeError("a bug, not bad data")

    data = SkipBadSamples(Flaky())
    assert data[0] == Skipped("clip.wav is truncated") and len(data) == 2
    with pytest.raises(RuntimeError, match="a bug"):
        data[1]


def test_the_record_counts_each_occurrence_by_stage_and_stores_as_plain_data():
    record = BadSamples("skip")
    record.handle(InputError("text file a.txt is empty"))
    record.add([("train", "b.png is truncated"), ("val", "c.wav is empty")] * 2)
    assert record.counts() == {"setup": 1, "train": 2, "val": 2}
    assert record.report().splitlines() == [
        "skipped 5 bad sample(s): setup 1, train 2, val 2",
        "  setup: text file a.txt is empty",
        "  train: b.png is truncated (2 times)",
        "  val: c.wav is empty (2 times)",
    ]
    buffer = io.BytesIO()
    torch.save(record.as_dict(), buffer)
    buffer.seek(0)
    stored = torch.load(buffer, weights_only=True)
    assert stored["count"] == 5 and stored["reasons"][1] == ["train", "b.png is truncated"]
    assert BadSamples().report() == "no bad samples"
    with pytest.raises(InputError, match="a.txt is empty"):
        BadSamples("raise").handle(InputError("text file a.txt is empty"))
