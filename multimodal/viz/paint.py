"""One input drawn on matplotlib axes, plain or painted with one weight per token: text as
coloured pieces, an image with its patch grid or a heat map over its pixels, a clip's log-mel
with its token boundaries or a band of weights along its time axis."""

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes

from multimodal.layout import Token

COLORS = {
    "text": "#4c72b0",
    "image": "#dd8452",
    "audio": "#55a868",
    "marker": "#8c8c8c",
    "class": "#8172b3",
}
HEAT = colormaps["inferno"]
LINE = 90  # characters per line of text pieces


def color(tok: Token) -> str:
    """A token's colour: its kind's (markers, class tokens), else its modality's."""
    return COLORS.get(tok.kind) or COLORS.get(tok.modality, "#937860")


def shown(piece: str) -> str:
    """A text piece with its spaces, tabs and newlines made visible."""
    return piece.replace(" ", "\u2423").replace("\n", "\u21b5").replace("\t", "\u21e5")


def scaled(weights: Sequence[float]) -> np.ndarray:
    """Weights over their maximum, in [0, 1] (all zero stays zero)."""
    w = np.asarray(weights, dtype=np.float64)
    top = w.max() if w.size else 0.0
    return w / top if top > 0 else w


def draw_pieces(ax: Axes, toks: Sequence[Token], weights=None, query: int | None = None) -> None:
    """Pieces left to right, wrapping at `LINE` characters: in turns of two shades, or shaded by
    `weights` (one per token, over their maximum); the query token is outlined."""
    shade = scaled(weights) if weights is not None else None
    lines, x = [[]], 0
    for i, tok in enumerate(toks):
        label = shown(tok.piece or tok.label)
        if x and x + len(label) > LINE:
            lines.append([])
            x = 0
        lines[-1].append((x, i, label))
        x += len(label) + 1
    ax.set_xlim(0, LINE)
    ax.set_ylim(len(lines), 0)
    ax.set_axis_off()
    for y, line in enumerate(lines):
        for x, i, label in line:
            face = (
                HEAT(0.15 + 0.85 * shade[i]) if shade is not None else ("#dbe4f0", "#f3d9c4")[i % 2]
            )
            ink = "white" if shade is not None and shade[i] < 0.6 else "black"
            edge = "#e41a1c" if toks[i].column == query else "none"
            ax.text(
                x,
                y + 0.5,
                label,
                family="monospace",
                fontsize=9,
                va="center",
                color=ink,
                bbox={"boxstyle": "square,pad=0.2", "fc": face, "ec": edge, "lw": 2},
            )


def draw_image(ax: Axes, pixels: np.ndarray, toks: Sequence[Token], weights=None) -> None:
    """The image at its own size with its patch grid, or with `weights` (one per patch token)
    as a heat map laid over each patch's pixels."""
    H, W = pixels.shape[:2]
    ax.imshow(
        pixels, cmap="gray" if pixels.ndim == 2 else None, extent=(0, W, H, 0), vmin=0, vmax=1
    )
    patches = [t for t in toks if t.patch is not None]
    rows = 1 + max(t.patch[0] for t in patches)
    cols = 1 + max(t.patch[1] for t in patches)
    if weights is not None:
        heat = np.zeros((rows, cols))
        for tok, w in zip(toks, weights):
            if tok.patch is not None:
                heat[tok.patch] = w
        ax.imshow(
            scaled(heat),
            cmap=HEAT,
            alpha=0.6,
            extent=(0, W, H, 0),
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
    for t in patches:
        x0, y0, x1, y1 = t.box
        ax.add_patch(_rect(x0, y0, x1 - x0, y1 - y0))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_xticks([])
    ax.set_yticks([])


def _rect(x, y, w, h):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, ec="white", lw=0.4, alpha=0.5)


def draw_clip(ax: Axes, mel: np.ndarray, toks: Sequence[Token], weights=None) -> None:
    """The log-mel (M, F) over the clip's seconds with each token's start marked, or with
    `weights` (one per token) as a band over each token's time span."""
    seconds = max(t.span[1] for t in toks)
    ax.imshow(mel, origin="lower", aspect="auto", cmap="viridis", extent=(0, seconds, 0, len(mel)))
    if weights is None:
        for t in toks[1:]:
            ax.axvline(t.span[0], color="white", lw=0.4, alpha=0.5)
    else:
        for t, w in zip(toks, scaled(weights)):
            ax.axvspan(*t.span, color=HEAT(0.9), alpha=0.85 * float(w), lw=0)
        band = ax.twinx()
        band.step([t.span[0] for t in toks], scaled(weights), where="post", color="#e41a1c", lw=1)
        band.set_ylim(0, 1.05)
        band.set_yticks([])
    ax.set_xlabel("seconds")
    ax.set_yticks([])
