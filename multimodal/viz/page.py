"""`write_page`: a `Look` as one self-contained HTML page (`page.html` with the data inline).

Pick a layer and a head (or their mean), hover or click any token, and its attention is painted
over every input at once: text pieces, image patches, spectrogram frames. Nothing is fetched:
the script, styles and pictures are all in the file. Weights are stored as 16-bit fractions
(a step of 1.5e-5), pictures as PNG.
"""

import base64
import io
import json
import os
from importlib.resources import files
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

from multimodal.errors import InputError
from multimodal.viz.look import Look, short_name

MAX_WEIGHT_BYTES = 64 * 2**20  # layers x heads x T x T x 2 bytes; more: pick one layer


def png(pixels: np.ndarray) -> str:
    """An (H, W) or (H, W, 3|4) array in [0, 1] or uint8, as a PNG data URL."""
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def spectrogram(mel: np.ndarray) -> np.ndarray:
    """Log-mel (M, F) as RGB (M, F, 3), low frequencies at the bottom."""
    lo, hi = float(mel.min()), float(mel.max())
    scaled = (mel - lo) / (hi - lo) if hi > lo else np.zeros_like(mel)
    return colormaps["viridis"](scaled[::-1])[..., :3]


def page_data(look: Look, layers: list[int], title: str) -> dict:
    L, H, T = len(layers), look.shape[1], look.shape[2]
    weights = look.attention[layers].numpy()  # (L, H, T, T)
    if weights.size * 2 > MAX_WEIGHT_BYTES:
        raise InputError(
            f"the page would hold {weights.size * 2 / 2**20:.0f} MiB of attention weights "
            f"({L} layers, {H} heads, {T} tokens); pick one layer (layer=...)"
        )
    quantized = np.round(np.clip(weights, 0, 1) * 65535).astype("<u2")
    inputs = []
    for s, (item, seg, pic) in enumerate(zip(look.items, look.segments, look.pictures)):
        entry = {"index": s, "modality": seg.modality, "name": short_name(item)}
        if pic is not None and seg.modality == "image":
            entry |= {"picture": png(pic), "width": pic.shape[1], "height": pic.shape[0]}
        elif pic is not None and seg.modality == "audio":
            entry |= {"picture": png(spectrogram(pic)), "seconds": seg.meta.get("seconds")}
        inputs.append(entry)
    tokens = [
        {k: v for k, v in vars(t).items() if v is not None and k not in ("sample", "source")}
        for t in look.tokens
    ]
    return {
        "title": title,
        "mask": look.mask,
        "layers": layers,
        "heads": H,
        "T": T,
        "tokens": tokens,
        "inputs": inputs,
        "weights": base64.b64encode(quantized.tobytes()).decode(),
    }


def write_page(
    look: Look, path: str | os.PathLike, layer: int | None = None, title: str = ""
) -> Path:
    """Write the page to `path` (its folder must exist); `layer`: only that layer (None: all)."""
    layers = list(range(look.shape[0])) if layer is None else [look.layer_index(layer)]
    data = json.dumps(page_data(look, layers, title or "attention")).replace("</", "<\\/")
    template = files("multimodal.viz").joinpath("page.html").read_text(encoding="utf-8")
    path = Path(path)
    try:
        path.write_text(template.replace("/*DATA*/null", data), encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write the page {path}: {e.strerror}") from None
    return path
