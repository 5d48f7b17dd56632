"""`SpeechDataModule`: audio clips with transcripts, from manifests or a LibriSpeech-style tree.

A split is either a manifest file, one JSON object per line:

    {"audio": "clips/0001.wav", "text": "three one four"}     (paths relative to the manifest)

or a folder holding `*.trans.txt` files anywhere below it (LibriSpeech: `<speaker>/<chapter>/`
with lines `<id> <TRANSCRIPT>` and the clips `<id>.flac` beside them).
"""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from multimodal.data.bad_samples import BadSamples
from multimodal.data.datamodule import ExampleDataModule
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.tokenizer import Tokenizer


@dataclass(frozen=True)
class Clip:
    audio: Path
    text: str
    where: str  # "manifest M line N" or "transcript file F line N", for messages
    seconds: float = 0.0  # from the file's header; 0 where it cannot be read


def with_duration(clip: Clip) -> Clip:
    try:
        return replace(clip, seconds=sf.info(clip.audio).duration)
    except (sf.LibsndfileError, OSError, RuntimeError):
        return clip  # reading it later raises the clear error


def read_manifest(path: Path, bad: BadSamples) -> list[Clip]:
    clips = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"manifest {path} line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad.handle(InputError(f"{where} is not a JSON object"))
            continue
        if not isinstance(row, dict) or not isinstance(row.get("audio"), str):
            bad.handle(InputError(f'{where} has no "audio" path; expected {{"audio", "text"}}'))
            continue
        if not isinstance(row.get("text"), str):
            bad.handle(InputError(f'{where} has no "text" string; expected {{"audio", "text"}}'))
            continue
        clips.append(Clip(path.parent / row["audio"], row["text"], where))
    return clips


def read_librispeech(root: Path, bad: BadSamples, extension: str = ".flac") -> list[Clip]:
    clips = []
    for trans in sorted(root.rglob("*.trans.txt")):
        for n, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            key, _, text = line.strip().partition(" ")
            clips.append(Clip(trans.parent / f"{key}{extension}", text, f"{trans} line {n}"))
    if not clips:
        raise InputError(f"speech folder {root} holds no *.trans.txt transcripts")
    return clips


def read_split(path: Path, bad: BadSamples) -> list[Clip]:
    """A manifest file or a LibriSpeech-style folder as clips."""
    if path.is_dir():
        return read_librispeech(path, bad)
    if not path.is_file():
        raise InputError(f"speech split {path} does not exist (run `mm-data prepare`)")
    return read_manifest(path, bad)


class SpeechDataset(Dataset):
    """Clip i -> `Example([audio segment], target=transcript, meta={"source", "where"})`."""

    def __init__(self, clips: list[Clip], audio: Tokenizer):
        self.clips, self.audio = clips, audio

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> Example:
        clip = self.clips[i]
        segment = self.audio.prepare(clip.audio)
        return Example(
            [segment], target=clip.text, meta={"source": str(clip.audio), "where": clip.where}
        )


class LengthGroupedBatches(Sampler[list[int]]):
    """Shuffled batches of clips of similar length, so little of each batch is padding.

    Each epoch: shuffle, cut into pools of `pool` batches, sort each pool by length, cut it into
    batches, shuffle the batches. Every clip appears exactly once per epoch.
    """

    def __init__(self, lengths: list[float], batch_size: int, pool: int = 50, seed: int = 0):
        self.lengths, self.batch_size, self.pool, self.seed = lengths, batch_size, pool, seed
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        size = self.batch_size * self.pool
        batches = []
        for start in range(0, len(order), size):
            chunk = sorted(order[start : start + size], key=self.lengths.__getitem__)
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        for i in torch.randperm(len(batches), generator=g).tolist():
            yield batches[i]


class SpeechDataModule(ExampleDataModule):
    """Args:
    splits: split name ("train", "val", "test") -> manifest file or LibriSpeech-style folder.
    charset: characters a transcript may hold (the CTC vocabulary); None accepts any.
    lowercase: lowercase transcripts first (LibriSpeech's are upper case).
    group_by_length: batches of clips of similar length: shuffled groups for training (one
        process only), val and test sorted by length.
    seed: shuffling seed of the length-grouped batches.
    Other arguments: see `ExampleDataModule`.

    Transcripts are checked when the splits are read. With `on_bad_sample: skip` every clip is
    also decoded once then, so unreadable ones are counted and left out before training; with
    "raise" a bad clip stops the run when it is first loaded, naming its file.
    """

    def __init__(
        self,
        splits: Mapping[str, str],
        charset: str | None = None,
        lowercase: bool = False,
        group_by_length: bool = True,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not splits:
            raise InputError("data.splits is empty; expected e.g. {train: ..., val: ...}")
        self.paths = {name: Path(p) for name, p in splits.items()}
        self.charset, self.lowercase = charset, lowercase
        self.group_by_length, self.seed = group_by_length, seed

    def check_text(self, clip: Clip) -> Clip | None:
        text = " ".join(clip.text.split())
        text = text.lower() if self.lowercase else text
        if not text:
            self.bad_samples.handle(InputError(f"{clip.where} has an empty transcript"))
            return None
        if self.charset is not None:
            bad = list(dict.fromkeys(c for c in text if c not in self.charset))
            if bad:
                self.bad_samples.handle(
                    InputError(
                        f"{clip.where} has transcript characters {bad} outside the CTC "
                        f"vocabulary {self.charset!r}"
                    )
                )
                return None
        return Clip(clip.audio, text, clip.where)

    def check_audio(self, clips: list[Clip], audio: Tokenizer, split: str) -> list[Clip]:
        good = []
        for clip in tqdm(clips, desc=f"checking {split} clips", unit="clip", leave=False):
            try:
                audio.prepare(clip.audio)
            except InputError as e:
                self.bad_samples.handle(InputError(f"{clip.where}: {e}"))
                continue
            good.append(clip)
        return good

    def setup(self, stage=None) -> None:
        if self.splits:
            return
        audio = self.tokenizer("audio")
        for name, path in self.paths.items():
            clips = [c for c in map(self.check_text, read_split(path, self.bad_samples)) if c]
            if self.bad_samples.policy == "skip":
                clips = self.check_audio(clips, audio, name)
            if not clips:
                raise InputError(f"speech split {name!r} ({path}) holds no usable clips")
            if self.group_by_length:  # train: grouped batches; val, test: sorted by length
                clips = [with_duration(c) for c in clips]
                if name != "train":
                    clips.sort(key=lambda c: c.seconds)
            self.splits[name] = SpeechDataset(clips, audio)

    def train_dataloader(self) -> DataLoader:
        distributed = self.trainer is not None and self.trainer.world_size > 1
        if not self.group_by_length or distributed or "train" not in self.splits:
            return super().train_dataloader()
        dataset = self.splits["train"]
        batches = LengthGroupedBatches(
            [c.seconds for c in dataset.clips], self.train_batch_size, seed=self.seed
        )
        return DataLoader(
            dataset,
            batch_sampler=batches,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
            persistent_workers=self.num_workers > 0,
        )
