"""Writing a text folder as litdata shards: windows of token ids, or whole documents.

Windows: every `*.txt` is read and checked as `TextDataModule` reads it (`read_text_file`),
tokenized once with an end-of-text after it, and its tokens cut into train and the last
`val_fraction` for val. Each split's tokens go, file after file, into a flat token file on disk;
window i of a split is tokens [i * stride, i * stride + length) of it (val windows do not
overlap: their stride is the length), the windows `TextDataModule` makes with the same
settings. Only one file's text is held in memory. Each window carries the fingerprint of its
vocabulary, so shards are never read with another one.

Documents: each good file is one sample, its text; the val split is round(val_fraction * n)
files drawn with a fixed seed. The text is tokenized when read, by the training's vocabulary.
"""

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import torch

from multimodal.data.bad_samples import BadSamples
from multimodal.data.optimize import Output, stored
from multimodal.data.text import read_corpus, read_text_file
from multimodal.errors import InputError
from multimodal.tokenizers.text_preprocessor import TextPreprocessor

PROBE = "The quick brown fox jumps over the lazy dog. 0123456789 ?!\n\t é ß 中文 🙂"


def vocab_fingerprint(text: TextPreprocessor) -> int:
    """A 63-bit number that differs between vocabularies: a hash of the vocabulary's size,
    its end-of-text id and the ids of a probe sentence."""
    ids = np.asarray([text.vocab_size, text.eot, *text.encode(PROBE)], np.int64)
    return int.from_bytes(hashlib.sha256(ids.tobytes()).digest()[:8], "little") >> 1


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


class Windows:
    """Sample i: window i of a flat token file, {"ids": (length,), "offset", "vocab"}."""

    def __init__(self, path: Path, dtype: np.dtype, length: int, stride: int, vocab: int):
        self.path, self.dtype, self.length, self.stride, self.vocab = (
            path,
            dtype,
            length,
            stride,
            vocab,
        )
        self.tokens = None  # a memmap, opened in the process that writes

    def __call__(self, i: int) -> dict:
        if self.tokens is None:
            self.tokens = np.memmap(self.path, dtype=self.dtype, mode="r")
        start = i * self.stride
        ids = np.array(self.tokens[start : start + self.length])
        return {"ids": ids, "offset": start, "vocab": self.vocab}


class Documents:
    """Sample i: the text of file i, {"text", "path"}."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __call__(self, i: int) -> dict:
        text = self.paths[i].read_text(encoding="utf-8")
        return {"text": stored(text), "path": stored(str(self.paths[i]))}


def optimize_text(
    output: Output,
    root,
    vocab,
    block_size: int = 256,
    stride: int | None = None,
    val_fraction: float = 0.1,
    on_bad_sample: str = "raise",
) -> str:
    """A text folder as windows of `block_size` token ids, tokenized with `vocab`; training
    windows start every `stride` tokens (default `block_size`: they do not overlap)."""
    if not 0 < val_fraction < 1:
        raise InputError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    if block_size < 1 or (stride is not None and stride < 1):
        raise InputError(f"block_size and stride must be positive, got {block_size}, {stride}")
    output.check()
    text, bad = TextPreprocessor(vocab=vocab), BadSamples(on_bad_sample)
    dtype, stride = token_dtype(text.vocab_size), stride or block_size
    with tempfile.TemporaryDirectory() as tmp:
        paths = {split: Path(tmp, f"{split}.bin") for split in ("train", "val")}
        sinks = {split: open(path, "wb") for split, path in paths.items()}
        with sinks["train"], sinks["val"]:
            for path in read_corpus(root):
                content = read_text_file(path, bad)
                if content is None:
                    continue
                ids = np.asarray(text.encode(content) + [text.eot], dtype)
                cut = int(len(ids) * (1 - val_fraction))
                sinks["train"].write(ids[:cut].tobytes())
                sinks["val"].write(ids[cut:].tobytes())
        strides, counts = {"train": stride, "val": block_size}, {}
        for split, path in paths.items():
            tokens = path.stat().st_size // dtype.itemsize
            if tokens < block_size:
                raise InputError(
                    f"the {split} split of text folder {root} has {tokens} tokens; "
                    f"a window needs {block_size}"
                )
            counts[split] = (tokens - block_size) // strides[split] + 1
        output.clear()
        vocab_id = vocab_fingerprint(text)
        for split, path in paths.items():
            windows = Windows(path, dtype, block_size, strides[split], vocab_id)
            output.write(split, windows, range(counts[split]))
    return output.summary(counts, bad)


def optimize_documents(
    output: Output, root, val_fraction: float = 0.1, seed: int = 0, on_bad_sample: str = "raise"
) -> str:
    """A text folder as one sample per file; the val split is drawn from the files."""
    if not 0 <= val_fraction < 1:
        raise InputError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    output.check()
    bad = BadSamples(on_bad_sample)
    good = [p for p in read_corpus(root) if read_text_file(p, bad) is not None]
    if not good:
        raise InputError(f"text data folder {root} holds no readable text")
    order = torch.randperm(len(good), generator=torch.Generator().manual_seed(seed)).tolist()
    held = set(order[: round(val_fraction * len(good))])
    splits = {
        "train": [p for i, p in enumerate(good) if i not in held],
        "val": [p for i, p in enumerate(good) if i in held],
    }
    splits = {split: paths for split, paths in splits.items() if paths}
    if "train" not in splits:
        raise InputError(f"text data folder {root} leaves no file for training at {val_fraction=}")
    output.clear()
    for split, paths in splits.items():
        output.write(split, Documents(paths), range(len(paths)))
    return output.summary({split: len(paths) for split, paths in splits.items()}, bad)
