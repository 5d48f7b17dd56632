"""`SpeechDataModule`: audio clips with transcripts, from manifests or a LibriSpeech-style tree.

A split is either a manifest file, one JSON object per line:

    {"audio": "clips/0001.wav", "text": "three one four"}     (paths relative to the manifest)

or a folder holding `*.trans.txt` files anywhere below it (LibriSpeech: `<speaker>/<chapter>/`
with lines `<id> <TRANSCRIPT>` and the clips `<id>.flac` beside them).

A clip's path must stay inside its manifest's (or transcript file's) folder: `../x.wav` and
absolute paths are bad samples unless `allow_outside_paths` is set, so a manifest from elsewhere
cannot make training read any file on the machine. The check is on the written path; links
inside the folder are followed.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import soundfile as sf
from torch.utils.data import Dataset
from tqdm import tqdm

from multimodal.data.bad_samples import BadSamples
from multimodal.data.datamodule import ExampleDataModule
from multimodal.data.resumable import ResumableLoader
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.tokenizer import Preprocessor


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


def leaves_folder(name: str) -> bool:
    """Whether a clip path written in a manifest points outside the manifest's folder."""
    return os.path.isabs(name) or os.path.normpath(name).split(os.sep)[0] == ".."


def outside(where: str, name: str, folder: Path) -> InputError:
    return InputError(
        f"{where} names audio {name!r} outside the folder {folder}; expected a path inside it "
        "(set data.allow_outside_paths: true to read it anyway)"
    )


def read_manifest(path: Path, bad: BadSamples, allow_outside: bool = False) -> list[Clip]:
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
        if leaves_folder(row["audio"]) and not allow_outside:
            bad.handle(outside(where, row["audio"], path.parent))
            continue
        clips.append(Clip(path.parent / row["audio"], row["text"], where))
    return clips


def read_librispeech(
    root: Path, bad: BadSamples, extension: str = ".flac", allow_outside: bool = False
) -> list[Clip]:
    clips = []
    for trans in sorted(root.rglob("*.trans.txt")):
        for n, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            key, _, text = line.strip().partition(" ")
            name, where = f"{key}{extension}", f"{trans} line {n}"
            if leaves_folder(name) and not allow_outside:
                bad.handle(outside(where, name, trans.parent))
                continue
            clips.append(Clip(trans.parent / name, text, where))
    if not clips:
        raise InputError(f"speech folder {root} holds no *.trans.txt transcripts")
    return clips


def read_split(path: Path, bad: BadSamples, allow_outside: bool = False) -> list[Clip]:
    """A manifest file or a LibriSpeech-style folder as clips."""
    if path.is_dir():
        return read_librispeech(path, bad, allow_outside=allow_outside)
    if not path.is_file():
        raise InputError(f"speech split {path} does not exist (run `mm-data prepare`)")
    return read_manifest(path, bad, allow_outside)


class SpeechDataset(Dataset):
    """Clip i -> `Example([audio segment], target=transcript, meta={"source", "where"})`."""

    def __init__(self, clips: list[Clip], audio: Preprocessor):
        self.clips, self.audio = clips, audio

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> Example:
        clip = self.clips[i]
        try:
            segment = self.audio.prepare(clip.audio)
        except InputError as e:
            raise InputError(f"{clip.where}: {e}") from None
        return Example(
            [segment], target=clip.text, meta={"source": str(clip.audio), "where": clip.where}
        )


class SpeechDataModule(ExampleDataModule):
    """Args:
    splits: split name ("train", "val", "test") -> manifest file or LibriSpeech-style folder.
    charset: characters a transcript may hold (the CTC vocabulary); None accepts any.
    lowercase: lowercase transcripts first (LibriSpeech's are upper case).
    group_by_length: batches of clips of similar length: shuffled groups for training, val
        and test sorted by length.
    verify: decode every clip once when the splits are read, so bad clips are found before
        training; None (the default) does so only with `on_bad_sample: skip`. Unverified bad
        clips are met when loaded: skipped and counted, or stopping the run, naming the file.
    allow_outside_paths: read clips whose paths leave the manifest's folder (`../x.wav`,
        absolute paths); otherwise they are bad samples.
    Other arguments: see `ExampleDataModule`.

    Transcripts are always checked when the splits are read.
    """

    def __init__(
        self,
        splits: Mapping[str, str],
        charset: str | None = None,
        lowercase: bool = False,
        group_by_length: bool = True,
        verify: bool | None = None,
        allow_outside_paths: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not splits:
            raise InputError("data.splits is empty; expected e.g. {train: ..., val: ...}")
        self.paths = {name: Path(p) for name, p in splits.items()}
        self.charset, self.lowercase = charset, lowercase
        self.group_by_length = group_by_length
        self.verify = self.bad_samples.policy == "skip" if verify is None else verify
        self.allow_outside_paths = allow_outside_paths

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

    def check_audio(self, clips: list[Clip], audio: Preprocessor, split: str) -> list[Clip]:
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
        audio = self.preprocessor("audio")
        for name, path in self.paths.items():
            read = read_split(path, self.bad_samples, self.allow_outside_paths)
            clips = [c for c in map(self.check_text, read) if c]
            if self.verify:
                clips = self.check_audio(clips, audio, name)
            if not clips:
                raise InputError(f"speech split {name!r} ({path}) holds no usable clips")
            if self.group_by_length:  # train: grouped batches; val, test: sorted by length
                clips = [with_duration(c) for c in clips]
                if name != "train":
                    clips.sort(key=lambda c: c.seconds)
            self.splits[name] = SpeechDataset(clips, audio)

    def train_dataloader(self) -> ResumableLoader:
        if not self.group_by_length or "train" not in self.splits:
            return super().train_dataloader()
        lengths = [c.seconds for c in self.splits["train"].clips]
        return self.loader("train", shuffle=True, lengths=lengths)
