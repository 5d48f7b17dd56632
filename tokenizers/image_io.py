"""Reading images of any source into one float layout: (C, H, W), values in [0, 1].

Sources: a file path (PNG, JPEG, GIF and WebP through `torchvision.io.decode_image`; any other
format Pillow reads, such as BMP or TIFF, through Pillow), a PIL image, a torch tensor or a
numpy array.

The rule, whatever the source:
- Layout: tensors are (C, H, W) or (H, W) (torch's convention); numpy arrays are (H, W, C) or
  (H, W) (Pillow's and OpenCV's). C is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
- Range: uint8 is divided by 255, uint16 (16-bit PNG or TIFF) by 65535; float input must
  already lie in [0, 1].
- Channels: `channels=1` turns RGB into gray by ITU-R BT.601 luma; `channels=3` repeats gray
  three times. Alpha is composited over a flat `background` (0.0 black, 1.0 white) and dropped.
- Size: an image with a zero side, or with more than `max_pixels` pixels, is refused (the limit
  is checked from the file header, before decoding).
"""

import io
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as TF

from multimodal.errors import InputError

TORCHVISION_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def load_image(
    raw,
    channels: int = 3,
    background: float = 0.0,
    max_pixels: int | None = None,
    name: str | None = None,
) -> Tensor:
    """Any image source to a float32 tensor (channels, H, W) in [0, 1]; raises `InputError`.

    name: how errors refer to the input (defaults to "image file <path>" or "image input").
    """
    name = name or _default_name(raw)
    return to_float(read_image(raw, max_pixels, name), channels, background, name)


def read_image(raw, max_pixels: int | None = None, name: str | None = None) -> Tensor:
    """Any image source, decoded and size-checked but not converted: (C, H, W) with C in 1..4,
    uint8, uint16 or float in [0, 1]. `to_float` applies the rule above."""
    name = name or _default_name(raw)
    if isinstance(raw, (str, Path)):
        img = _read_file(Path(raw), max_pixels, name)
    elif isinstance(raw, Image.Image):
        _check_size(raw.height, raw.width, max_pixels, name)
        img = _from_pil(raw)
    elif isinstance(raw, (Tensor, np.ndarray)):
        img = _from_array(raw, name)
    else:
        raise InputError(
            f"image input of type {type(raw).__name__} is not supported; expected a file path, "
            "a PIL image, a tensor or a numpy array"
        )
    _check_size(img.shape[-2], img.shape[-1], max_pixels, name)
    return img


def _default_name(raw) -> str:
    return f"image file {raw}" if isinstance(raw, (str, Path)) else "image input"


def _check_size(h: int, w: int, max_pixels: int | None, name: str) -> None:
    if h == 0 or w == 0:
        raise InputError(f"{name} has size {h}x{w}; expected an image with pixels in it")
    if max_pixels is not None and h * w > max_pixels:
        raise InputError(
            f"{name} is {h}x{w} = {h * w} pixels, more than the configured maximum "
            f"max_pixels={max_pixels}"
        )


def _read_file(path: Path, max_pixels: int | None, name: str) -> Tensor:
    """Decode a file: integer tensor (C, H, W) with 1 to 4 channels, or float in [0, 1]."""
    if not path.is_file():
        raise InputError(f"{name} does not exist")
    data = path.read_bytes()
    if not data:
        raise InputError(f"{name} is empty (0 bytes); expected an image")
    try:
        pil = Image.open(io.BytesIO(data))  # header only; pixels are decoded below
    except Image.DecompressionBombError as e:
        raise InputError(f"{name} is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError):
        pil = None
    if pil is not None:
        _check_size(pil.height, pil.width, max_pixels, name)
    elif data.startswith(PNG_SIGNATURE) and len(data) >= 24:  # Pillow refuses a zero side
        w, h = struct.unpack(">II", data[16:24])
        _check_size(h, w, max_pixels, name)
    try:
        if pil is None or pil.format in TORCHVISION_FORMATS:
            return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), _mode(pil))
        pil.load()
        return _from_pil(pil)
    except (RuntimeError, OSError, ValueError, SyntaxError) as e:
        if pil is None and not _looks_like_image(data):
            raise InputError(
                f"{name} is not a readable image; expected PNG, JPEG, GIF, WebP or "
                "another format Pillow reads"
            ) from None
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{name} is truncated or corrupt ({reason})") from None


def _looks_like_image(data: bytes) -> bool:
    """True if the bytes start like a PNG, JPEG, GIF or WebP file."""
    return data.startswith((PNG_SIGNATURE, b"\xff\xd8\xff", b"GIF87a", b"GIF89a")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )


def _mode(pil: Image.Image | None) -> ImageReadMode:
    """torchvision's read mode from the header: gray stays gray, alpha is kept if present.

    Color is never turned into gray by the decoder (libpng and libjpeg use different weights);
    `_finish` does that with one formula.
    """
    if pil is None:
        return ImageReadMode.RGB_ALPHA
    alpha = pil.mode in ALPHA_MODES or "transparency" in pil.info
    if pil.mode in GRAY_MODES:
        return ImageReadMode.GRAY_ALPHA if alpha else ImageReadMode.GRAY
    return ImageReadMode.RGB_ALPHA if alpha else ImageReadMode.RGB


def _from_pil(pil: Image.Image) -> Tensor:
    """A PIL image to a tensor (C, H, W); 16-bit gray stays uint16, everything else uint8."""
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return torch.from_numpy(np.asarray(pil).astype(np.uint16))[None]
    if pil.mode in ("I", "F"):
        raise InputError(
            f"PIL image mode {pil.mode!r} has no fixed range; expected 8- or 16-bit pixels"
        )
    alpha = pil.mode in ALPHA_MODES or "transparency" in pil.info
    gray = pil.mode in GRAY_MODES
    target = ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB")
    arr = np.asarray(pil.convert(target))  # (H, W) or (H, W, C) uint8
    return torch.from_numpy(arr.copy()).reshape(pil.height, pil.width, -1).permute(2, 0, 1)


def _from_array(raw: Tensor | np.ndarray, name: str) -> Tensor:
    """A tensor (C, H, W) / (H, W) or a numpy array (H, W, C) / (H, W) to a tensor (C, H, W)."""
    if isinstance(raw, np.ndarray):
        if raw.ndim == 3:
            raw = raw.transpose(2, 0, 1)  # HWC -> CHW
        raw = np.ascontiguousarray(raw)
        raw = torch.from_numpy(raw if raw.flags.writeable else raw.copy())
    if raw.ndim == 2:
        raw = raw[None]
    if raw.ndim != 3 or raw.shape[0] not in (1, 2, 3, 4):
        raise InputError(
            f"{name} has shape {tuple(raw.shape)}; expected (C, H, W) or (H, W) with C in 1..4 "
            "(numpy arrays: (H, W, C) or (H, W))"
        )
    if raw.is_floating_point():
        if raw.numel() and not (0.0 <= float(raw.min()) and float(raw.max()) <= 1.0):
            raise InputError(f"{name} is a float image with values outside [0, 1]")
        return raw.float()
    if raw.dtype not in (torch.uint8, torch.uint16):
        raise InputError(f"{name} has dtype {raw.dtype}; expected uint8, uint16 or float in [0, 1]")
    return raw


def to_float(
    img: Tensor, channels: int = 3, background: float = 0.0, name: str = "image"
) -> Tensor:
    """Decoded (C, H, W) to float32 (channels, H, W) in [0, 1], alpha composited."""
    if channels not in (1, 3):
        raise InputError(f"image channels must be 1 or 3, got {channels}")
    if img.dtype == torch.uint8:
        img = img.float().div_(255.0)
    elif img.dtype == torch.uint16:
        img = img.to(torch.int32).float().div_(65535.0)
    else:
        img = img.float()
    if img.shape[0] in (2, 4):  # last channel is alpha
        color, alpha = img[:-1], img[-1:]
        img = color * alpha + background * (1.0 - alpha)
    if img.shape[0] == 3 and channels == 1:
        img = TF.rgb_to_grayscale(img)
    elif img.shape[0] == 1 and channels == 3:
        img = img.expand(3, -1, -1)
    if img.shape[0] != channels:
        raise InputError(f"{name} has {img.shape[0]} channels; expected {channels}")
    return img.contiguous()
