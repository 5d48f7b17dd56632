"""Writing prepared data sets as litdata shards (`mm-data optimize`).

Each split becomes one litdata dataset, `<out>/<split>/` (litdata's `index.json` and
`chunk-*.bin`), written by `litdata.optimize` and read by `multimodal.data.streaming`. `out`
is a local folder or an object-store URL (`s3://bucket/prefix`, passed to litdata as it is).
Samples hold raw inputs, so that the tokenizers' preprocessors prepare them in DataLoader
workers as they prepare files. Each sample is a dict:

    text windows    {"ids": uint16 or uint32 (L,), "offset": int, "vocab": int}
    text documents  {"text": str, "path": str}
    images          {"image": the file's bytes, "label": class name, "path": str}
    speech          {"audio": the file's bytes, "text": transcript, "where": str}
    pairs           {"image": bytes, "audio": bytes, "same": 1 or 0, "path": str}

Inputs are read and checked in this process first, by the folder datamodules' own scans, so a
bad sample is named in one sentence and stops the run or is skipped (`on_bad_sample`) before
anything is written; litdata's workers only copy what passed. Text is in `optimize_text`.
"""

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import litdata

from multimodal.data.bad_samples import BadSamples
from multimodal.data.images import ImageFolderDataModule
from multimodal.data.pairs import SameClassPairsDataModule
from multimodal.data.speech import SpeechDataModule
from multimodal.errors import InputError
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor

SHARD_FILES = ("index.json", "chunk-*.bin")  # what litdata writes into a split folder


def is_url(where: str | Path) -> bool:
    """Whether `where` names an object store (`s3://...`) rather than a local folder."""
    return "://" in str(where)


@dataclass(frozen=True)
class Output:
    """Where and how shards are written.

    out: a local folder or an object-store URL; one litdata dataset per split under it.
    force: replace the shards of an earlier run; otherwise a non-empty local folder is refused.
    workers: litdata's writing processes (each writes its own chunk files).
    chunk_bytes: the size of a chunk file, e.g. "64MB".
    """

    out: str
    force: bool = False
    workers: int = 1
    chunk_bytes: str = "64MB"

    def check(self) -> None:
        """Refuse a local output folder that exists and is not empty, unless `force`."""
        if is_url(self.out):
            return  # litdata refuses a URL that holds an index.json unless `force`
        path = Path(self.out)
        if path.exists() and not path.is_dir():
            raise InputError(f"optimize output {path} is a file; expected a folder")
        if path.is_dir() and any(path.iterdir()) and not self.force:
            raise InputError(
                f"optimize output folder {path} exists and is not empty; choose another --out "
                "or pass --force to replace the shards in it"
            )

    def clear(self) -> None:
        """Remove an earlier run's shards from a local output folder: litdata's files in its
        split folders, and the folders if that empties them; nothing else."""
        if is_url(self.out) or not Path(self.out).is_dir():
            return
        for split in [p for p in Path(self.out).iterdir() if (p / "index.json").is_file()]:
            for pattern in SHARD_FILES:
                for f in split.glob(pattern):
                    f.unlink()
            if not any(split.iterdir()):
                split.rmdir()

    def folder(self, split: str) -> str:
        return f"{self.out.rstrip('/')}/{split}"

    def write(self, split: str, make: Callable[[int], dict], inputs: Sequence[int]) -> None:
        """Write `make(i)` for every i of `inputs`, in that order, as the split's dataset."""
        before = multiprocessing.get_start_method(allow_none=True)
        try:
            litdata.optimize(
                fn=make,
                inputs=list(inputs),
                output_dir=self.folder(split),
                chunk_bytes=self.chunk_bytes,
                num_workers=self.workers,
                keep_data_ordered=True,  # sample i of the shards is input i
                reorder_files=False,
                mode="overwrite" if self.force else None,
                start_method="fork",
                verbose=False,
            )
        except RuntimeError as e:
            last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise InputError(f"writing shards to {self.folder(split)} failed: {last}") from None
        finally:
            multiprocessing.set_start_method(before, force=True)  # litdata set it process-wide

    def summary(self, counts: Mapping[str, int], bad: BadSamples) -> str:
        sizes = ", ".join(f"{split} {n}" for split, n in counts.items())
        return f"wrote {self.out}: {sizes} samples\n{bad.report()}"


def stored(value):
    """A value as litdata should store it: a str as text even when it names an existing file
    (litdata would store that file's bytes)."""
    return litdata.Text(text=value) if isinstance(value, str) else value


class FileSamples:
    """Sample i: row i, the values of `files` (paths) replaced by those files' bytes."""

    def __init__(self, rows: list[dict], files: Sequence[str]):
        self.rows, self.files = rows, tuple(files)

    def __call__(self, i: int) -> dict:
        row = self.rows[i]
        return {k: Path(v).read_bytes() if k in self.files else stored(v) for k, v in row.items()}


def write_rows(
    output: Output, rows_by_split: Mapping[str, list[dict]], files: Sequence[str], bad
) -> str:
    """Write each split's rows as `FileSamples`; the summary."""
    output.clear()
    for split, rows in rows_by_split.items():
        output.write(split, FileSamples(rows, files), range(len(rows)))
    return output.summary({split: len(rows) for split, rows in rows_by_split.items()}, bad)


def optimize_images(
    output: Output,
    root,
    classes=None,
    val_fraction=0.1,
    test_fraction=0.0,
    seed=0,
    on_bad_sample="raise",
) -> str:
    """An image folder (either layout `ImageFolderDataModule` reads) as image shards, with
    the same splits; every file is decoded once here, and bad ones named."""
    output.check()
    data = ImageFolderDataModule(
        root,
        classes,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        preprocessors={"image": ImagePreprocessor()},
        collate_fn=None,
        on_bad_sample=on_bad_sample,
    )
    data.setup()
    rows = {
        split: [{"image": str(f), "label": data.classes[y], "path": str(f)} for f, y in d.items]
        for split, d in data.splits.items()
    }
    return write_rows(output, rows, ["image"], data.bad_samples)


def optimize_speech(
    output: Output,
    splits: Mapping[str, str],
    lowercase=False,
    max_seconds=30.0,
    allow_outside_paths=False,
    on_bad_sample="raise",
) -> str:
    """Speech manifests or LibriSpeech-style folders as clip shards; every clip is decoded once
    here (at most `max_seconds` long), and bad ones named."""
    output.check()
    data = SpeechDataModule(
        splits,
        lowercase=lowercase,
        group_by_length=False,
        verify=True,
        allow_outside_paths=allow_outside_paths,
        on_bad_sample=on_bad_sample,
        collate_fn=None,
        preprocessors={"audio": AudioPreprocessor(max_seconds=max_seconds)},
    )
    data.setup()
    rows = {
        split: [{"audio": str(c.audio), "text": c.text, "where": c.where} for c in d.clips]
        for split, d in data.splits.items()
    }
    return write_rows(output, rows, ["audio"], data.bad_samples)


def optimize_pairs(
    output: Output,
    images: Mapping,
    speech: Mapping[str, str],
    words: list[str],
    pairs_per_clip=8,
    seed=0,
    max_seconds=30.0,
    allow_outside_paths=False,
    on_bad_sample="raise",
) -> str:
    """Image-clip pairs as `SameClassPairsDataModule` draws them, as pair shards. Every image
    and clip is decoded once here, and the pairs of a bad one are left out by the policy. The
    pairs are fixed: the training split's redrawing of images is not kept."""
    output.check()
    audio = AudioPreprocessor(max_seconds=max_seconds)
    data = SameClassPairsDataModule(
        images,
        speech,
        words,
        pairs_per_clip=pairs_per_clip,
        seed=seed,
        allow_outside_paths=allow_outside_paths,
        on_bad_sample=on_bad_sample,
        collate_fn=None,
        preprocessors={"image": ImagePreprocessor(), "audio": audio},
    )
    data.setup()
    readable: dict[Path, bool] = {}
    rows = {}
    for split, d in data.splits.items():
        rows[split] = []
        for image, clip, _, same in d.pairs:
            if clip.audio not in readable:
                readable[clip.audio] = clip_readable(clip, audio, data.bad_samples)
            if readable[clip.audio]:
                path = f"{image} + {clip.audio}"
                row = {"image": str(image), "audio": str(clip.audio), "same": same, "path": path}
                rows[split].append(row)
    return write_rows(output, rows, ["image", "audio"], data.bad_samples)


def clip_readable(clip, audio: AudioPreprocessor, bad: BadSamples) -> bool:
    try:
        audio.prepare(clip.audio)
    except InputError as e:
        bad.handle(InputError(f"{clip.where}: {e}"))
        return False
    return True
