"""`TextDataModule`: language-modelling windows over a folder of UTF-8 text files."""

from pathlib import Path

import torch
from torch.utils.data import Dataset

from multimodal.data.bad_samples import BadSamples
from multimodal.data.datamodule import ExampleDataModule
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.segment import Segment


class TokenWindows(Dataset):
    """Fixed-length windows of a token stream: window i is ids[i * stride : i * stride + length]."""

    def __init__(self, ids: torch.Tensor, length: int, stride: int):
        if ids.numel() < length:
            raise InputError(f"text split has {ids.numel()} tokens; a window needs {length}")
        self.ids, self.length, self.stride = ids, length, stride

    def __len__(self) -> int:
        return (self.ids.numel() - self.length) // self.stride + 1

    def __getitem__(self, i: int) -> Example:
        start = i * self.stride
        return Example(
            [Segment("text", self.ids[start : start + self.length])], meta={"offset": start}
        )


def read_corpus(root: Path) -> list[Path]:
    """The `*.txt` files under `root`, sorted; an error if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"text data folder {root} does not exist (run `mm-data prepare`)")
    files = sorted(root.rglob("*.txt"))
    if not files:
        raise InputError(f"text data folder {root} holds no .txt files")
    return files


def read_text_file(path: Path, bad_samples: BadSamples) -> str | None:
    """The file's text, or None (after `bad_samples` took it) if it is not UTF-8, is empty,
    holds NUL bytes (binary or UTF-16 data) or nothing printable."""
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        bad_samples.handle(InputError(f"text file {path} is not valid UTF-8"))
        return None
    if not content.strip():
        bad_samples.handle(InputError(f"text file {path} is empty"))
        return None
    if "\x00" in content:  # never in text; UTF-16 or binary data reads as valid UTF-8
        bad_samples.handle(InputError(f"text file {path} holds NUL bytes; expected UTF-8 text"))
        return None
    if not any(c.isprintable() and not c.isspace() for c in content):
        bad_samples.handle(
            InputError(f"text file {path} holds only control characters; expected text")
        )
        return None
    return content


class TextDataModule(ExampleDataModule):
    """Every `*.txt` under `root`, tokenized, joined with <|endoftext|>, split by position.

    The last `val_fraction` of each file's tokens is validation (no window spans both splits).
    A file that is not UTF-8, is empty, holds NUL bytes (binary or UTF-16 data) or nothing
    printable is a bad sample.
    Training windows start every `stride` tokens (default: half a window); validation
    windows do not overlap.

    Args:
        root: folder of text files.
        block_size: tokens per window (at most the model's context).
        val_fraction: share of each file held out for validation.
    """

    def __init__(
        self, root, block_size: int = 256, val_fraction: float = 0.1, stride=None, **kwargs
    ):
        super().__init__(**kwargs)
        if not 0 < val_fraction < 1:
            raise InputError(f"data.val_fraction must lie in (0, 1), got {val_fraction}")
        self.root, self.block_size, self.val_fraction = Path(root), block_size, val_fraction
        self.stride = stride or max(1, block_size // 2)

    def setup(self, stage=None) -> None:
        if self.splits:
            return
        text = self.preprocessor("text")
        train, val = [], []
        for path in read_corpus(self.root):
            content = read_text_file(path, self.bad_samples)
            if content is None:
                continue
            ids = text.encode(content) + [text.eot]
            cut = int(len(ids) * (1 - self.val_fraction))
            train += ids[:cut]
            val += ids[cut:]
        if not train:
            raise InputError(f"text data folder {self.root} holds no readable text")
        self.splits["train"] = TokenWindows(torch.tensor(train), self.block_size, self.stride)
        self.splits["val"] = TokenWindows(torch.tensor(val), self.block_size, self.block_size)
