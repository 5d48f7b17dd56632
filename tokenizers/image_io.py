"""Reading images of any source into one float layout: (C, H, W), values in [0, 1].

Sources: a file path (str or os.PathLike; PNG, JPEG and WebP through
`torchvision.io.decode_image`, GIF and any other format Pillow reads, such as BMP or TIFF,
through Pillow), a PIL image, a torch tensor or a numpy array. Anything else, and every bad
input, raises `InputError` with one sentence naming it.

The rule, whatever the source:
- Layout: tensors are (C, H, W) or (H, W) (torch's convention); numpy arrays are (H, W, C) or
  (H, W) (Pillow's and OpenCV's). C is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). A tensor
  or array is one image: a 4-D one such as (frames, C, H, W) is refused, never cut to a frame.
- Frames: a multi-frame file (animated GIF, WebP or PNG, multi-page TIFF) gives its FIRST frame,
  decoded alone; a PIL image gives the frame it is on.
- Pixels: uint8 is divided by 255, uint16 (16-bit PNG or TIFF) by 65535; float16, bfloat16,
  float32 and float64 must already lie in [0, 1] (NaN and infinity are refused). Bool, signed,
  complex and object arrays are refused, as are PIL's 32-bit modes "I" and "F" (no fixed range);
  every other PIL mode (P, CMYK, YCbCr, LAB, HSV, 1, LA, ...) is converted to RGB or gray by Pillow.
- Channels: `channels=1` turns RGB into gray by ITU-R BT.601 luma; `channels=3` repeats gray
  three times. Alpha is composited over a flat `background` (0.0 black, 1.0 white) and dropped.
- Size: an image with a zero side, or with more than `max_pixels` pixels, is refused before any
  pixel is decoded or copied: files from their header (a GIF's first frame from its own
  descriptor), arrays from their shape. A path must be a regular file (not a directory, device or
  pipe) of at most `FILE_BYTES_PER_PIXEL * max_pixels + FILE_SLACK_BYTES` bytes, checked from its
  size before it is opened. `max_pixels=None` lifts both bounds.
"""

import os
import struct
from typing import NoReturn

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as TF

from multimodal.errors import InputError
from multimodal.tokenizers.input_file import check_file

TORCHVISION_FORMATS = ("PNG", "JPEG", "WEBP")  # single-frame files only; the rest go to Pillow
ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEEP_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
GRAY_MODES = ("1", "L", "LA", "La", "I", "F", *DEEP_MODES)
FILE_BYTES_PER_PIXEL = 8  # 16-bit RGBA stored uncompressed
FILE_SLACK_BYTES = 16 * 2**20  # metadata: EXIF, ICC profiles, text chunks
NUMPY_DTYPES = ("uint8", "uint16", "float16", "float32", "float64")
TORCH_DTYPES = (
    torch.uint8,
    torch.uint16,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
)
EXPECTED_DTYPES = "uint8, uint16 or float in [0, 1]"


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
    if isinstance(raw, (str, os.PathLike)):
        img = _read_file(raw, max_pixels, name)
    elif isinstance(raw, Image.Image):
        _check_size(raw.height, raw.width, max_pixels, name)
        img = _from_pil(raw, name)
    elif isinstance(raw, (Tensor, np.ndarray)):
        img = _from_array(raw, max_pixels, name)
    else:
        raise InputError(
            f"image input of type {type(raw).__name__} is not supported; expected a file path, "
            "a PIL image, a tensor or a numpy array"
        )
    _check_size(img.shape[-2], img.shape[-1], max_pixels, name)
    return img


def _default_name(raw) -> str:
    return f"image file {raw}" if isinstance(raw, (str, os.PathLike)) else "image input"


def _check_size(h: int, w: int, max_pixels: int | None, name: str) -> None:
    if h == 0 or w == 0:
        raise InputError(f"{name} has size {h}x{w}; expected an image with pixels in it")
    if max_pixels is not None and h * w > max_pixels:
        raise InputError(
            f"{name} is {h}x{w} = {h * w} pixels, more than the configured maximum "
            f"max_pixels={max_pixels}"
        )


def _reason(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


# --- files -------------------------------------------------------------------------------------
def _read_file(path, max_pixels: int | None, name: str) -> Tensor:
    """Decode a file's first frame: integer tensor (C, H, W) with 1 to 4 channels."""
    max_bytes = None if max_pixels is None else FILE_BYTES_PER_PIXEL * max_pixels + FILE_SLACK_BYTES
    if check_file(path, name, max_bytes) == 0:
        raise InputError(f"{name} is empty (0 bytes); expected an image")
    try:
        pil = Image.open(path)  # the header only; for a GIF, also its first frame's descriptor
    except Image.DecompressionBombError as e:
        raise InputError(f"{name} is too large to decode safely ({e})") from None
    except Exception as e:  # Pillow's format plugins raise many kinds on bytes they cannot parse
        _refuse_unreadable(path, max_pixels, name, e)
    with pil:
        _check_size(pil.height, pil.width, max_pixels, name)
        try:
            if pil.format in TORCHVISION_FORMATS and not getattr(pil, "is_animated", False):
                with open(path, "rb") as f:
                    data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
                return decode_image(data, _mode(pil))
            pil.load()  # the frame Pillow opened at: the first
            return _from_pil(pil, name)
        except (InputError, MemoryError):
            raise
        except Image.DecompressionBombError as e:  # a first frame larger than its header said
            raise InputError(f"{name} is too large to decode safely ({e})") from None
        except Exception as e:  # a decoder failing on bad bytes, whichever library
            raise InputError(f"{name} is truncated or corrupt ({_reason(e)})") from None


def _refuse_unreadable(path, max_pixels: int | None, name: str, error: Exception) -> NoReturn:
    """Raise the sentence for a file Pillow cannot open: a zero side, damage, or not an image."""
    with open(path, "rb") as f:
        head = f.read(32)
    if head.startswith(PNG_SIGNATURE) and len(head) >= 24:  # Pillow refuses a zero side
        w, h = struct.unpack(">II", head[16:24])
        _check_size(h, w, max_pixels, name)
    if _looks_like_image(head):
        raise InputError(f"{name} is truncated or corrupt ({_reason(error)})") from None
    raise InputError(
        f"{name} is not a readable image; expected PNG, JPEG, GIF, WebP or another format "
        "Pillow reads"
    ) from None


def _looks_like_image(data: bytes) -> bool:
    """True if the bytes start like a PNG, JPEG, GIF or WebP file."""
    return data.startswith((PNG_SIGNATURE, b"\xff\xd8\xff", b"GIF87a", b"GIF89a")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )


def _mode(pil: Image.Image) -> ImageReadMode:
    """torchvision's read mode from the header: gray stays gray, alpha is kept if present.

    Color is never turned into gray by the decoder (libpng and libjpeg use different weights);
    `to_float` does that with one formula.
    """
    alpha = pil.mode in ALPHA_MODES or "transparency" in pil.info
    if pil.mode in GRAY_MODES:
        return ImageReadMode.GRAY_ALPHA if alpha else ImageReadMode.GRAY
    return ImageReadMode.RGB_ALPHA if alpha else ImageReadMode.RGB


# --- PIL images and arrays ---------------------------------------------------------------------
def _from_pil(pil: Image.Image, name: str) -> Tensor:
    """A PIL image to a tensor (C, H, W); 16-bit gray stays uint16, everything else uint8."""
    if pil.mode in ("I", "F"):
        raise InputError(
            f"{name} has PIL mode {pil.mode!r}, which has no fixed range; expected 8- or 16-bit "
            "pixels"
        )
    alpha = pil.mode in ALPHA_MODES or "transparency" in pil.info
    gray = pil.mode in GRAY_MODES
    target = ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB")
    try:
        if pil.mode in DEEP_MODES:
            return torch.from_numpy(np.asarray(pil).astype(np.uint16))[None]
        arr = np.asarray(pil.convert(target))  # (H, W) or (H, W, C) uint8
    except ValueError as e:  # a mode Pillow cannot convert, or a closed image
        raise InputError(
            f"{name} (PIL mode {pil.mode!r}) cannot be converted to {target} ({_reason(e)})"
        ) from None
    except (OSError, SyntaxError, EOFError) as e:  # a lazily opened file, damaged
        raise InputError(f"{name} is truncated or corrupt ({_reason(e)})") from None
    return torch.from_numpy(arr.copy()).reshape(pil.height, pil.width, -1).permute(2, 0, 1)


def _from_array(raw: Tensor | np.ndarray, max_pixels: int | None, name: str) -> Tensor:
    """A tensor (C, H, W) / (H, W) or a numpy array (H, W, C) / (H, W) to a tensor (C, H, W).

    Shape, dtype and size are checked before anything is copied; float values after.
    """
    _check_dtype(raw, name)  # first: a nested tensor has no shape
    is_numpy = isinstance(raw, np.ndarray)
    shape = tuple(raw.shape)
    if len(shape) == 4:
        raise InputError(
            f"{name} has shape {shape}, several images in one array; expected one image, "
            "(C, H, W) or (H, W) (numpy arrays: (H, W, C) or (H, W)); only a multi-frame file "
            "is read as its first frame"
        )
    c, h, w = 0, 0, 0
    if len(shape) == 2:
        c, h, w = 1, *shape
    elif len(shape) == 3:
        c, h, w = (shape[2], *shape[:2]) if is_numpy else shape
    if c not in (1, 2, 3, 4):
        raise InputError(
            f"{name} has shape {shape}; expected (C, H, W) or (H, W) with C in 1..4 "
            "(numpy arrays: (H, W, C) or (H, W))"
        )
    _check_size(h, w, max_pixels, name)
    if is_numpy:
        native = raw.dtype.newbyteorder("=")
        arr = np.ascontiguousarray(raw.transpose(2, 0, 1) if raw.ndim == 3 else raw, native)
        raw = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    img = raw.detach() if raw.ndim == 3 else raw.detach()[None]  # (C, H, W)
    if img.is_floating_point() and not bool(((img >= 0) & (img <= 1)).all()):
        raise InputError(
            f"{name} is a float image with values outside [0, 1] or not a number; "
            f"expected {EXPECTED_DTYPES}"
        )
    return img


def _check_dtype(raw: Tensor | np.ndarray, name: str) -> None:
    """Refuse pixel types with no image meaning, and tensors that hold no plain pixels."""
    if isinstance(raw, np.ndarray):
        ok = raw.dtype.kind in "uf" and raw.dtype.newbyteorder("=").name in NUMPY_DTYPES
        kind = f"has dtype {raw.dtype}"
    else:
        plain = raw.layout == torch.strided and not raw.is_nested and raw.device.type != "meta"
        ok = plain and raw.dtype in TORCH_DTYPES
        layout = "nested" if raw.is_nested else raw.layout
        kind = f"has dtype {raw.dtype}" if plain else f"is a {layout} tensor on {raw.device}"
    if not ok:
        raise InputError(f"{name} {kind}; expected {EXPECTED_DTYPES}")


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
