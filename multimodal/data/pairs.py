"""`SameClassPairsDataModule`: an image and a spoken word together; do they name the same class?

The images come from an image folder (as `ImageFolderDataModule` reads it), the clips from
speech manifests (as `SpeechDataModule` reads them), keeping the clips whose transcript is one
class word. Each clip is paired with `pairs_per_clip` images of its split, half of its own class
and half of other classes, drawn with a fixed seed. Target: 1 for the same class, else 0.
"""

from collections.abc import Mapping
from pathlib import Path

import torch
from torch.utils.data import Dataset

from multimodal.data.datamodule import ExampleDataModule
from multimodal.data.images import ImageFolderDataModule
from multimodal.data.speech import Clip, read_split
from multimodal.errors import InputError
from multimodal.example import Example

Pair = tuple[Path, Clip, int, int]  # (image, clip, the clip's class, 1 if the image shows it)


def pick_image(images: Mapping[int, list[Path]], said: int, same: bool, generator=None) -> Path:
    """An image of class `said` if `same`, else of another class, drawn at random."""
    others = [c for c in sorted(images) if c != said]
    shown = said if same else others[int(torch.randint(len(others), (1,), generator=generator))]
    files = images[shown]
    return files[int(torch.randint(len(files), (1,), generator=generator))]


class PairsDataset(Dataset):
    """Pairs; item i is `Example([image, audio], target=same)`.

    With `redraw` (the train split's images by class), each access draws a new image of the
    pair's kind, so the pairs cannot be learnt by heart.
    """

    def __init__(
        self,
        pairs: list[Pair],
        image,
        audio,
        train: bool = False,
        redraw: Mapping[int, list[Path]] | None = None,
    ):
        self.pairs, self.image, self.audio, self.train = pairs, image, audio, train
        self.redraw = redraw

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Example:
        path, clip, said, same = self.pairs[i]
        if self.redraw is not None:
            path = pick_image(self.redraw, said, bool(same))
        segments = [self.image.prepare(path, train=self.train), self.audio.prepare(clip.audio)]
        return Example(segments, target=same, meta={"path": f"{path} + {clip.audio}"})


def draw_pairs(
    images: Mapping[int, list[Path]], clips: list[tuple[Clip, int]], per_clip: int, seed: int
) -> list[Pair]:
    """`per_clip` images per clip, alternating its own class and another class."""
    g = torch.Generator().manual_seed(seed)
    return [
        (pick_image(images, said, k % 2 == 0, g), clip, said, int(k % 2 == 0))
        for clip, said in clips
        for k in range(per_clip)
    ]


class SameClassPairsDataModule(ExampleDataModule):
    """Args (besides `ExampleDataModule`'s):
    images: the image folder's settings (`ImageFolderDataModule` arguments: root, classes, ...).
    speech: split name -> manifest or LibriSpeech-style folder.
    words: the spoken word of each class, in class order (e.g. "zero" for class "0").
    pairs_per_clip: images paired with each single-word clip.
    seed: seed of the pairing.
    allow_outside_paths: read clips whose manifest paths leave the manifest's folder (as
        `SpeechDataModule`); otherwise they are bad samples.

    Clips are not decoded at setup: a bad clip (or, with `images.verify: false`, a bad image) is
    met when its pair is loaded, and stops the run or is skipped and counted, by the policy.
    """

    def __init__(
        self,
        images: Mapping,
        speech: Mapping[str, str | Path],
        words: list[str],
        pairs_per_clip: int = 8,
        seed: int = 0,
        allow_outside_paths: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pairs_per_clip < 2:
            raise InputError(f"data.pairs_per_clip must be at least 2, got {pairs_per_clip}")
        self.image_data = ImageFolderDataModule(
            **images, preprocessors=self.preprocessors, collate_fn=None
        )
        self.image_data.bad_samples = self.bad_samples  # one policy and one report for both
        self.paths = {name: Path(p) for name, p in speech.items()}
        self.words = [w.lower() for w in words]
        self.pairs_per_clip, self.seed = pairs_per_clip, seed
        self.allow_outside_paths = allow_outside_paths

    def single_words(self, clips: list[Clip]) -> list[tuple[Clip, int]]:
        """Clips whose transcript is one class word, with that class."""
        return [
            (c, self.words.index(c.text.strip().lower()))
            for c in clips
            if c.text.strip().lower() in self.words
        ]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.image_data.setup(stage)
        if len(self.words) != len(self.image_data.classes):
            raise InputError(
                f"data.words has {len(self.words)} words for "
                f"{len(self.image_data.classes)} image classes"
            )
        image, audio = self.preprocessor("image"), self.preprocessor("audio")
        for n, (split, path) in enumerate(self.paths.items()):
            if split not in self.image_data.splits:
                raise InputError(f"speech split {split!r} has no image split to pair with")
            by_class: dict[int, list[Path]] = {}
            for f, label in self.image_data.splits[split].items:
                by_class.setdefault(label, []).append(f)
            clips = self.single_words(read_split(path, self.bad_samples, self.allow_outside_paths))
            if not clips:
                raise InputError(
                    f"speech split {split!r} ({path}) has no one-word clips of {self.words}"
                )
            missing = {label for _, label in clips} - set(by_class)
            if missing:
                raise InputError(f"the {split} images have no class {sorted(missing)} to pair with")
            pairs = draw_pairs(by_class, clips, self.pairs_per_clip, self.seed * 1000 + n)
            train = split == "train"
            self.splits[split] = PairsDataset(
                pairs, image, audio, train=train, redraw=by_class if train else None
            )
