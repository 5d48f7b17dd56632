"""`ImageFolderDataModule`: labelled images in class folders, as train / val / test splits.

Two layouts are read:

    root/<class>/**/<image>                     one tree; val and test are carved out of it
    root/{train,val,test}/<class>/**/<image>    ready splits; a missing val is carved from train

Carving is stratified and deterministic: within each class (files sorted by path), a permutation
seeded with `seed` puts round(fraction * n) files into the carved split. Every file counts:
a file that is not a readable image is a bad sample, not silently passed over (only names that
start with "." are ignored, such as .DS_Store). Class indices follow `classes` when given,
else the sorted class folder names of the training split.
"""

from pathlib import Path

import torch
from torch.utils.data import Dataset

from multimodal.data.datamodule import ExampleDataModule
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor

SPLITS = ("train", "val", "test")


class ImageFolderDataset(Dataset):
    """(path, class index) pairs; item i is an `Example` of one segment that `preprocessor`
    prepared and its class index, or, with `captions` (a text segment per class), the image
    followed by its class's caption, the image as the bidirectional prefix."""

    def __init__(
        self,
        items: list[tuple[Path, int]],
        preprocessor: Preprocessor,
        train: bool = False,
        captions: list[Segment] | None = None,
    ):
        self.items, self.preprocessor, self.train = items, preprocessor, train
        self.captions = captions

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Example:
        path, label = self.items[i]
        seg = self.preprocessor.prepare(path, train=self.train)
        meta = {"path": str(path), "label": label}
        if self.captions is None:
            return Example([seg], target=label, meta=meta)
        prefix = self.preprocessor.num_tokens(seg)
        return Example([seg, self.captions[label]], prefix_len=prefix, meta=meta)


def visible_files(folder: Path) -> list[Path]:
    """Files under `folder` at any depth, sorted, without names that start with "."."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


class ImageFolderDataModule(ExampleDataModule):
    """Args (besides `ExampleDataModule`'s):
    root: the image tree (either layout above).
    classes: class folder names in index order; default: sorted folder names of the train split.
    modality: the preprocessor that prepares the images.
    val_fraction: share of each class carved from train when there is no val folder.
    test_fraction: share of each class carved for test (one-tree layout only).
    seed: seed of the carving permutation.
    verify: decode every file once at setup, so that bad files are found (and skipped or
        reported) before training starts rather than inside a DataLoader worker.
    caption: makes image-to-text examples for next-token prediction instead of classification:
        the text after each image, with "{label}" standing for its class's word, e.g.
        "The digit is {label}." (an end-of-text token follows).
    label_words: the word of each class in `caption`; default the class names.
    """

    def __init__(
        self,
        root: str | Path,
        classes: list[str] | None = None,
        modality: str = "image",
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        seed: int = 0,
        verify: bool = True,
        caption: str | None = None,
        label_words: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 <= value < 1.0:
                raise InputError(f"data.{key} must lie in [0, 1), got {value}")
        self.root = Path(root)
        self.classes = [str(c) for c in classes] if classes is not None else None
        self.modality, self.seed, self.verify = modality, seed, verify
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.caption = caption
        self.label_words = [str(w) for w in label_words] if label_words is not None else None

    # --- reading the tree -------------------------------------------------------------------
    def class_folders(self, split_dir: Path) -> dict[str, Path]:
        """{class name: folder}; files lying outside class folders are bad samples."""
        folders = {}
        for p in sorted(split_dir.iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_dir():
                folders[p.name] = p
            else:
                self.bad_samples.handle(
                    InputError(f"image file {p} is not inside a class folder of {split_dir}")
                )
        if not folders:
            raise InputError(f"image folder {split_dir} has no class folders; expected <class>/*")
        return folders

    def scan(self, split_dir: Path) -> dict[int, list[Path]]:
        """{class index: readable image files} of one split folder."""
        found = {}
        for name, folder in self.class_folders(split_dir).items():
            if name not in self.classes:
                self.bad_samples.handle(
                    InputError(f"class folder {folder} is not one of the classes {self.classes}")
                )
                continue
            files = [f for f in visible_files(folder) if self.readable(f)]
            if not files:
                self.bad_samples.handle(InputError(f"class folder {folder} has no images"))
            found[self.classes.index(name)] = files
        return found

    def readable(self, path: Path) -> bool:
        if not self.verify:
            return True
        try:
            self.preprocessor(self.modality).read(path)
        except InputError as e:
            self.bad_samples.handle(e)
            return False
        return True

    def carve(self, by_class: dict[int, list[Path]], fraction: float) -> tuple[dict, dict]:
        """Split each class's files: (kept, carved), carved = round(fraction * n) of them."""
        kept, carved = {}, {}
        for label, files in by_class.items():
            g = torch.Generator().manual_seed(self.seed * 100_003 + label)
            order = torch.randperm(len(files), generator=g).tolist()
            n = round(fraction * len(files))
            carved[label] = sorted(files[i] for i in order[:n])
            kept[label] = sorted(files[i] for i in order[n:])
        return kept, carved

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if not self.root.is_dir():
            raise InputError(
                f"image folder {self.root} does not exist; expected root/<class>/* or "
                "root/{train,val,test}/<class>/* (`mm-data prepare` writes the bundled sets)"
            )
        split_layout = (self.root / "train").is_dir()
        train_dir = self.root / "train" if split_layout else self.root
        if self.classes is None:
            self.classes = sorted(
                p.name for p in train_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        parts = {"train": self.scan(train_dir)}
        for label, name in enumerate(self.classes):
            if label not in parts["train"]:
                self.bad_samples.handle(InputError(f"class {name!r} has no folder in {train_dir}"))
        if split_layout:
            for split in ("val", "test"):
                if (self.root / split).is_dir():
                    parts[split] = self.scan(self.root / split)
        elif self.test_fraction > 0:
            parts["train"], parts["test"] = self.carve(parts["train"], self.test_fraction)
        if "val" not in parts and self.val_fraction > 0:
            parts["train"], parts["val"] = self.carve(parts["train"], self.val_fraction)
        preprocessor, captions = self.preprocessor(self.modality), self.captions()
        for split, by_class in parts.items():
            items = [(f, label) for label, files in sorted(by_class.items()) for f in files]
            if not items:
                raise InputError(f"the {split} split of image folder {self.root} has no images")
            self.splits[split] = ImageFolderDataset(items, preprocessor, split == "train", captions)

    def captions(self) -> list[Segment] | None:
        """Each class's caption as a text segment ending in end-of-text, or None."""
        if self.caption is None:
            return None
        words = self.label_words or self.classes
        if len(words) != len(self.classes):
            raise InputError(
                f"data.label_words has {len(words)} words for {len(self.classes)} classes"
            )
        if "{label}" not in self.caption:
            raise InputError(f"data.caption {self.caption!r} has no {{label}} for the class word")
        text = self.preprocessor("text")
        return [
            Segment(
                "text", torch.tensor(text.encode(self.caption.replace("{label}", w)) + [text.eot])
            )
            for w in words
        ]

    def summary(self) -> str:
        sizes = ", ".join(f"{s} {len(d)}" for s, d in self.splits.items())
        return f"{self.root}: {len(self.classes or [])} classes; {sizes}"
