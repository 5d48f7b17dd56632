"""Image-folder data: both layouts, stratified deterministic carving, and every bad input
stopping with its file named or, with the skip policy, skipped and counted."""

import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from multimodal.data.images import ImageFolderDataModule
from multimodal.errors import InputError
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor
from multimodal.tokenizers.text_preprocessor import TextPreprocessor


def save(path: Path, value: int, size=(8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, dtype=np.uint8)).save(path)
    return path


def flat_tree(root: Path, counts: dict[str, int]) -> Path:
    for name, n in counts.items():
        for i in range(n):
            save(root / name / f"{i:03d}.png", 10 * i)
    return root


def datamodule(root, policy="raise", preprocessor=None, **kwargs) -> ImageFolderDataModule:
    tok = preprocessor or ImagePreprocessor(patch_size=4, channels=1)
    return ImageFolderDataModule(
        root=root,
        preprocessors={"image": tok},
        collate_fn=list,
        batch_size=4,
        on_bad_sample=policy,
        **kwargs,
    )


def items(dm, split):
    return [(p.relative_to(dm.root).as_posix(), y) for p, y in dm.splits[split].items]


def test_one_tree_is_carved_stratified_and_deterministically(tmp_path):
    flat_tree(tmp_path, {"cat": 20, "dog": 10})
    dm = datamodule(tmp_path, val_fraction=0.2, test_fraction=0.1)
    dm.setup("fit")
    assert dm.classes == ["cat", "dog"]
    sizes = {s: [y for _, y in items(dm, s)] for s in ("train", "val", "test")}
    assert {s: (ys.count(0), ys.count(1)) for s, ys in sizes.items()} == {
        "test": (2, 1),  # 10% of 20 and of 10
        "val": (4, 2),  # 20% of the remaining 18 and 9 (rounded)
        "train": (14, 7),
    }
    files = [f for s in ("train", "val", "test") for f, _ in items(dm, s)]
    assert len(files) == len(set(files)) == 30  # every file in exactly one split
    again = datamodule(tmp_path, val_fraction=0.2, test_fraction=0.1)
    again.setup("fit")
    assert all(items(again, s) == items(dm, s) for s in ("train", "val", "test"))
    other = datamodule(tmp_path, val_fraction=0.2, test_fraction=0.1, seed=1)
    other.setup("fit")
    assert items(other, "val") != items(dm, "val")


def test_split_layout_with_explicit_class_order(tmp_path):
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        flat_tree(tmp_path / split, {"a": n, "b": n})
    dm = datamodule(tmp_path, classes=["b", "a"])
    dm.setup("fit")
    assert {s: len(d) for s, d in dm.splits.items()} == {"train": 6, "val": 2, "test": 4}
    assert items(dm, "val") == [("val/b/000.png", 0), ("val/a/000.png", 1)]
    ex = dm.splits["test"][0]
    assert ex.target == 0 and ex.meta["path"].endswith("test/b/000.png")
    assert ex.segments[0].data.shape == (1, 8, 8)


def test_no_val_folder_carves_val_from_train(tmp_path):
    flat_tree(tmp_path / "train", {"a": 10, "b": 10})
    flat_tree(tmp_path / "test", {"a": 2, "b": 2})
    dm = datamodule(tmp_path, val_fraction=0.1)
    dm.setup("fit")
    assert {s: len(d) for s, d in dm.splits.items()} == {"train": 18, "test": 4, "val": 2}


def test_augmentation_on_the_train_split_only(tmp_path):
    for split in ("train", "val"):
        path = tmp_path / split / "a" / "x.png"
        path.parent.mkdir(parents=True)
        Image.fromarray(np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1))).save(path)
    tok = ImagePreprocessor(patch_size=4, channels=1, augment=[v2.RandomHorizontalFlip(p=1.0)])
    dm = datamodule(tmp_path, preprocessor=tok)
    dm.setup("fit")
    train, val = dm.splits["train"][0].segments[0].data, dm.splits["val"][0].segments[0].data
    assert torch.equal(train, val.flip(-1))


def write_zero_png(path: Path) -> None:
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 0, 8, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def truncated(path):
    save(path, 100, (30, 30))
    path.write_bytes(path.read_bytes()[:60])


BAD = {
    "truncated": (truncated, "cat/bad.png", r"cat/bad\.png is truncated or corrupt"),
    "zero-size": (write_zero_png, "cat/bad.png", r"cat/bad\.png has size 8x0"),
    "not an image": (
        lambda p: p.write_text("labels: cat"),
        "cat/notes.txt",
        r"cat/notes\.txt is not a readable image",
    ),
    "too large": (
        lambda p: save(p, 1, (40, 40)),
        "cat/bad.png",
        r"cat/bad\.png is 40x40 = 1600 pixels, more than the configured maximum max_pixels=1000",
    ),
    "empty class folder": (lambda p: p.mkdir(), "dog", r"class folder .*dog has no images"),
    "outside a class folder": (
        lambda p: save(p, 1),
        "loose.png",
        r"loose\.png is not inside a class folder",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_raises_naming_it_or_is_skipped_and_counted(tmp_path, case):
    make, where, message = BAD[case]
    flat_tree(tmp_path, {"cat": 3, "fox": 2})
    make(tmp_path / where)
    tok = ImagePreprocessor(patch_size=4, channels=1, max_pixels=1000)
    with pytest.raises(InputError, match=message):
        datamodule(tmp_path, preprocessor=tok, val_fraction=0.0).setup("fit")

    dm = datamodule(tmp_path, "skip", preprocessor=tok, val_fraction=0.0)
    dm.setup("fit")
    assert len(dm.splits["train"]) == 5  # every good file is kept
    assert len(dm.bad_samples.skipped) == 1
    report = dm.bad_samples.report()
    assert report.startswith("skipped 1 bad sample(s):")
    assert len(report.splitlines()) == 2 and re.search(message, report.splitlines()[1])


def test_missing_root_and_unknown_class_are_named(tmp_path):
    with pytest.raises(InputError, match=r"image folder .*nowhere does not exist.*mm-data prepare"):
        datamodule(tmp_path / "nowhere").setup("fit")
    flat_tree(tmp_path, {"cat": 2, "owl": 2})
    with pytest.raises(InputError, match=r"class folder .*owl is not one of the classes"):
        datamodule(tmp_path, classes=["cat", "dog"]).setup("fit")
    with pytest.raises(InputError, match=r"class 'eel' has no folder in"):
        datamodule(tmp_path, classes=["cat", "owl", "eel"]).setup("fit")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no class folders"):
        datamodule(tmp_path / "empty").setup("fit")
    with pytest.raises(InputError, match=r"data.val_fraction must lie in \[0, 1\)"):
        datamodule(tmp_path, val_fraction=1.0)


def test_hidden_files_are_ignored(tmp_path):
    flat_tree(tmp_path, {"cat": 2})
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0\0")
    dm = datamodule(tmp_path, val_fraction=0.0)
    dm.setup("fit")
    assert len(dm.splits["train"]) == 2 and not dm.bad_samples.skipped


def test_captions_turn_images_into_image_then_text_examples(tmp_path, byte_encoding):
    root = flat_tree(tmp_path / "tree", {"0": 3, "1": 3})
    text = TextPreprocessor(encoding=byte_encoding)
    image = ImagePreprocessor(patch_size=4, channels=1)
    dm = ImageFolderDataModule(
        root=root,
        preprocessors={"image": image, "text": text},
        collate_fn=list,
        caption="It shows {label}.",
        label_words=["zero", "one"],
        val_fraction=0.0,
    )
    dm.setup()
    ex = dm.splits["train"][3]  # class "1"
    assert [s.modality for s in ex.segments] == ["image", "text"]
    assert ex.prefix_len == image.num_tokens(ex.segments[0]) and ex.target is None
    assert text.decode(ex.segments[1].data) == "It shows one.<|endoftext|>"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"caption": "It shows a digit."}, "has no {label}"),
        ({"caption": "{label}", "label_words": ["zero"]}, "label_words has 1 words for 2 classes"),
    ],
)
def test_bad_captions_are_named(tmp_path, byte_encoding, kwargs, match):
    root = flat_tree(tmp_path / "tree", {"0": 2, "1": 2})
    preps = {"image": ImagePreprocessor(patch_size=4, channels=1)}
    preps["text"] = TextPreprocessor(encoding=byte_encoding)
    dm = ImageFolderDataModule(root=root, preprocessors=preps, collate_fn=list, **kwargs)
    with pytest.raises(InputError, match=match):
        dm.setup()
