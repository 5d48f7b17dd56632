"""Which tokenizer an inference input goes to: told by its type, its file's contents, or by name.

The rule:
- `{"image": x}`, `{"audio": x}`, `{"text": x}` (one key, any tokenizer's name) names it.
- A path (str or `os.PathLike`) of an existing file goes by the file's first bytes (PNG, JPEG,
  GIF, BMP, WebP, TIFF: image; WAV, FLAC, Ogg: audio). A file whose extension says another
  modality than its bytes, or whose bytes are neither, is refused.
- Any other str is text, unless it is one word named like an image or audio file ("photo.png"):
  that is refused as a missing file (name it `{"text": ...}` to mean the words).
- A PIL image is an image; an `(array, sample_rate)` pair is audio.
- A tensor or numpy array: 3-D, or 2-D uint8, is an image; 1-D samples need their sample rate,
  so they are refused unless given as `(array, sample_rate)`.
"""

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from multimodal.errors import InputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus")
BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)  # DIB header sizes that follow "BM"


def sniff(head: bytes) -> tuple[str, str] | None:
    """(modality, format) from a file's first 16 bytes, or None if neither image nor audio."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image", "GIF"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image", "TIFF"
    if head.startswith(b"BM") and len(head) >= 16:
        if int.from_bytes(head[14:16], "little") in BMP_HEADER_SIZES:
            return "image", "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "WebP"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "WAV"
    if head.startswith(b"fLaC"):
        return "audio", "FLAC"
    if head.startswith(b"OggS"):
        return "audio", "Ogg"
    return None


def by_extension(path: str | os.PathLike) -> str | None:
    """The modality a file name promises, or None."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return None


def file_modality(path: str | os.PathLike) -> str:
    """A file's modality by its contents, checked against what its extension says."""
    with open(path, "rb") as f:
        head = f.read(16)
    found, named = sniff(head), by_extension(path)
    if found is None:
        what = f"named like an {named} file" if named else "a file"
        raise InputError(
            f"{path} is {what} but its contents are neither an image (PNG, JPEG, GIF, BMP, WebP, "
            "TIFF) nor audio (WAV, FLAC, Ogg)"
        )
    modality, fmt = found
    if named is not None and named != modality:
        raise InputError(f"{path} is named like an {named} file but holds {modality} ({fmt})")
    return modality


def split(raw, name: str = "input") -> tuple[str, object]:
    """(modality, the raw value its tokenizer's `prepare` takes); `name` is used in errors."""
    if isinstance(raw, Mapping):
        if len(raw) != 1:
            raise InputError(
                f"{name} is a mapping with keys {list(raw)}; expected one key naming its "
                'modality, e.g. {"image": "photo.png"}'
            )
        ((modality, value),) = raw.items()
        return str(modality), value
    if isinstance(raw, os.PathLike) or (isinstance(raw, str) and os.path.isfile(raw)):
        if not os.path.isfile(raw):
            raise InputError(f"{name} {raw} is not an existing file")
        return file_modality(raw), str(raw)
    if isinstance(raw, str):
        named = None if any(c.isspace() for c in raw) else by_extension(raw)
        if named is not None:  # one word named like a file: a mistyped path, not a prompt
            raise InputError(
                f"{name} {raw!r} is named like an {named} file but no such file exists; "
                'pass {"text": ...} to use it as text'
            )
        return "text", raw
    if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[1], int | np.integer):
        return "audio", raw
    if isinstance(raw, Image.Image):
        return "image", raw
    if isinstance(raw, Tensor | np.ndarray):
        return array_modality(raw, name), raw
    raise InputError(
        f"{name} is a {type(raw).__name__}; expected a file path, a text string, a PIL image, an "
        'image array or tensor, an (array, sample_rate) pair, or {"<modality>": value}'
    )


def array_modality(raw: Tensor | np.ndarray, name: str) -> str:
    shape, dtype = tuple(raw.shape), str(raw.dtype)
    if len(shape) == 3 or (len(shape) == 2 and dtype.endswith("uint8")):
        return "image"
    if len(shape) == 1 and dtype.startswith(("float", "torch.float")):
        raise InputError(
            f"{name} is a 1-D float array of {shape[0]} samples; audio needs its sample rate, "
            "so pass (array, sample_rate)"
        )
    raise InputError(
        f"{name} is an array of shape {shape} and dtype {dtype}; expected an image (3-D, or 2-D "
        'uint8) or audio as (array, sample_rate), or name it, e.g. {"image": array}'
    )


def detect(raw, tokenizers: Mapping | None = None, name: str = "input") -> str:
    """The modality of one input; with `tokenizers`, it must be one the model has."""
    modality, _ = split(raw, name)
    if tokenizers is not None:
        check_known(modality, tokenizers, name)
    return modality


def check_known(modality: str, tokenizers: Mapping, name: str) -> None:
    if modality not in tokenizers:
        raise InputError(
            f"{name} needs the {modality!r} tokenizer, which the model lacks; it has "
            f"{list(tokenizers)}"
        )
