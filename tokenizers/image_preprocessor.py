"""`ImagePreprocessor`: images of any size to normalized pixels on a patch grid, and their batch.

Shapes: S images in a batch, C channels, H x W pixels, p patch side, h x w patch grid,
L = h * w patches (+ 1 with a class token).

prepare:  file / PIL / tensor / array -> float (C, H, W) in [0, 1] (rules in `image_io`)
          -> augmentation (training only) -> resize to (h p, w p) -> normalize.
collate:  images of different sizes are packed as patch lists padded to the longest, (S, L, C p p),
          with each image's grid; nothing is cropped.
"""

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from multimodal.errors import InputError
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor
from multimodal.tokenizers.image_io import load_image, read_image, to_float
from multimodal.tokenizers.patch_embed import patchify

PIL_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb warning limit


def grid_size(
    height: int, width: int, patch_size: int, max_patches: int, min_patches: int = 1
) -> tuple[int, int]:
    """Patch grid (h, w) for an image, keeping its aspect ratio.

    Each side is rounded (half up) to the nearest multiple of `patch_size`, at least one patch.
    An image smaller than `min_patches` patches is first scaled up to about that many. If the
    grid has more than `max_patches` patches, both sides are instead scaled by one factor so
    that h * w <= max_patches (rounded down; a side never drops below one patch).
    """
    fh, fw = height / patch_size, width / patch_size
    scale = math.sqrt(min_patches / (fh * fw)) if fh * fw < min_patches else 1.0
    h, w = max(1, math.floor(fh * scale + 0.5)), max(1, math.floor(fw * scale + 0.5))
    if h * w <= max_patches:
        return h, w
    scale = math.sqrt(max_patches / (fh * fw))
    h = max(1, min(max_patches, math.floor(fh * scale + 1e-9)))
    w = max(1, min(max_patches // h, math.floor(fw * scale + 1e-9)))
    return h, w


class ImagePreprocessor(Preprocessor):
    """Images to patch grids.

    Args:
        patch_size: patch side p in pixels.
        channels: 1 (gray) or 3 (RGB); inputs are converted by the rule in `image_io`.
        max_patches: most patches per image; larger images are scaled down to fit.
        min_patches: smaller images are scaled up to about this many patches (default 1: never).
        max_pixels: inputs with more pixels than this are refused (checked before decoding).
        class_token: the module half prepends one token per image (counted by `num_tokens`).
        mean, std: per-channel normalization after scaling to [0, 1]; default 0.5 and 0.5.
        background: gray level that transparent pixels are composited over.
        augment: torchvision v2 transforms applied in order to (C, H, W) in [0, 1] when
            `prepare(..., train=True)`.
    """

    modality = "image"

    def __init__(
        self,
        patch_size: int = 16,
        channels: int = 3,
        max_patches: int = 256,
        min_patches: int = 1,
        max_pixels: int | None = PIL_MAX_PIXELS,
        class_token: bool = False,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        background: float = 0.0,
        augment: Sequence[Callable[[Tensor], Tensor]] = (),
    ):
        if channels not in (1, 3):
            raise InputError(f"image tokenizer 'channels' must be 1 or 3, got {channels}")
        if patch_size < 1 or not 1 <= min_patches <= max_patches:
            raise InputError(
                "image tokenizer needs patch_size >= 1 and 1 <= min_patches <= max_patches"
            )
        self.patch_size, self.channels = patch_size, channels
        self.min_patches, self.max_patches = min_patches, max_patches
        self.max_pixels, self.background = max_pixels, background
        self.class_token = bool(class_token)
        self.mean = list(mean) if mean is not None else [0.5] * channels
        self.std = list(std) if std is not None else [0.5] * channels
        if len(self.mean) != channels or len(self.std) != channels:
            raise InputError(f"image tokenizer 'mean' and 'std' need {channels} values each")
        self.augment = tuple(augment)

    def read(self, raw, name: str | None = None) -> Tensor:
        """Decode and check one input without converting it: (C, H, W), C in 1..4."""
        return read_image(raw, self.max_pixels, name)

    def load(self, raw, name: str | None = None) -> Tensor:
        """Decode and check one input: float (channels, H, W) in [0, 1] at its own size."""
        return load_image(raw, self.channels, self.background, self.max_pixels, name)

    def prepare(self, raw, train: bool = False, name: str | None = None) -> Segment:
        """An image to a normalized (C, h p, w p) segment; `train` applies `augment`.

        Without augmentation, 8-bit images are resized before conversion to float (the fast
        path; values then carry 8-bit rounding, as in Pillow-based pipelines).
        """
        img = self.read(raw, name)
        augment = self.augment if train else ()
        if augment or img.dtype != torch.uint8:
            img = to_float(img, self.channels, self.background, name or "image input")
            for transform in augment:
                img = transform(img)
        H, W = img.shape[-2:]
        h, w = grid_size(H, W, self.patch_size, self.max_patches, self.min_patches)
        p = self.patch_size
        if (H, W) != (h * p, w * p):
            img = TF.resize(img, [h * p, w * p], antialias=True)
        img = to_float(img, self.channels, self.background, name or "image input")
        img = TF.normalize(img, self.mean, self.std)
        meta = {"size": (H, W), "grid": (h, w), "augmented": bool(augment)}
        if isinstance(raw, str) or hasattr(raw, "__fspath__"):
            meta["source"] = str(raw)
        return Segment("image", img, meta)

    def grid(self, seg: Segment) -> tuple[int, int]:
        """The patch grid (h, w) of a prepared segment."""
        data, p = seg.data, self.patch_size
        if (
            data.ndim != 3
            or data.shape[0] != self.channels
            or data.shape[1] % p
            or data.shape[2] % p
        ):
            raise InputError(
                f"image segment has shape {tuple(data.shape)}; expected ({self.channels}, H, W) "
                f"with H and W multiples of {p} (use the image tokenizer's prepare)"
            )
        return data.shape[1] // p, data.shape[2] // p

    def num_tokens(self, seg: Segment) -> int:
        h, w = self.grid(seg)
        return h * w + self.class_token

    def describe(self, meta: dict, collated: dict[str, Tensor], row: int, count: int) -> list:
        """The class token, if any, then each patch in row-major order with its (row, col) and
        its box (x0, y0, x1, y1) in the pixels of the image `prepare` resized (the input itself
        unless it was augmented)."""
        h, w = collated["grid"][row].tolist()
        H, W = meta.get("size", (h * self.patch_size, w * self.patch_size))
        out = [{"kind": "class", "label": "class"}] if self.class_token else []
        for r in range(h):
            for c in range(w):
                box = (c * W / w, r * H / h, (c + 1) * W / w, (r + 1) * H / h)
                out.append(
                    {"kind": "patch", "label": f"patch ({r}, {c})", "patch": (r, c), "box": box}
                )
        return out[:count]

    def collate(self, segs: list[Segment]) -> dict[str, Tensor]:
        """{"patches": (S, L, C p p) zero-padded, "grid": (S, 2) rows and columns}."""
        grids = [self.grid(s) for s in segs]
        p = self.patch_size
        if len(set(grids)) == 1:
            patches = patchify(torch.stack([s.data for s in segs]), p)  # (S, L, C*p*p)
        else:
            length = max(h * w for h, w in grids)
            patches = segs[0].data.new_zeros(len(segs), length, self.channels * p * p)
            for i, s in enumerate(segs):
                h, w = grids[i]
                patches[i, : h * w] = patchify(s.data, p)
        return {"patches": patches, "grid": torch.tensor(grids, dtype=torch.long)}
