"""The pictures of a `Look`, as matplotlib figures (no screen needed):

- `tokens_figure`: what the tokenizers made of each input;
- `attention_figure`: one layer and head's (T, T) weights, the inputs' spans on both axes;
- `heads_figure`: every head of one layer side by side;
- `query_figure`: where one token looks, painted back onto every input, over all T tokens.
"""

import math

import numpy as np
from matplotlib.figure import Figure

from multimodal.layout import Token
from multimodal.viz.look import Look, short_name
from multimodal.viz.paint import COLORS, color, draw_clip, draw_image, draw_pieces

HEIGHTS = {"text": 1.0, "image": 3.0, "audio": 2.0}  # panel height per input, inches


def inputs_of(look: Look) -> list[tuple[int, list[Token]]]:
    """Each input's index and its own tokens (markers aside)."""
    return [
        (s, [t for t in look.tokens if t.segment == s and t.kind != "marker"])
        for s in range(len(look.segments))
    ]


def spans(look: Look) -> list[tuple[int, int, str, str]]:
    """(first, last + 1, label, colour) of each run of tokens from one input, markers alone."""
    out = []
    for tok in look.tokens:
        key = (tok.segment, tok.kind == "marker", color(tok))
        if out and out[-1][0] == key:
            out[-1][1][1] = tok.column + 1
        else:
            label = "" if tok.kind == "marker" else f"{tok.modality} {tok.segment}"
            out.append((key, [tok.column, tok.column + 1], label))
    return [(a, b, label, key[2]) for key, (a, b), label in out]


def title_of(look: Look, s: int, toks: list[Token]) -> str:
    name, seg = short_name(look.items[s]), look.segments[s]
    if seg.modality == "image":
        h, w = seg.meta.get("grid", (0, 0))
        return f"{name}: image, {h} x {w} patches, {len(toks)} tokens"
    if seg.modality == "audio":
        return f"{name}: audio, {seg.meta.get('seconds', 0):.2f} s, {len(toks)} tokens"
    return f"{name}: {seg.modality}, {len(toks)} tokens"


def draw_input(ax, look: Look, s: int, toks: list[Token], weights=None, query=None) -> None:
    """Input `s` on `ax`, painted with `weights` (one per token of `toks`) when given."""
    seg, picture = look.segments[s], look.pictures[s]
    if seg.modality == "image" and picture is not None:
        draw_image(ax, picture, toks, weights)
    elif seg.modality == "audio" and picture is not None:
        draw_clip(ax, picture, toks, weights)
    else:
        draw_pieces(ax, toks, weights, query)
    ax.set_title(title_of(look, s, toks), fontsize=9, loc="left")


def panels(look: Look, extra: float = 0.0) -> tuple[Figure, list]:
    parts = inputs_of(look)
    heights = [HEIGHTS.get(look.segments[s].modality, 1.0) for s, _ in parts] + [extra] * bool(
        extra
    )
    fig = Figure(figsize=(10, sum(heights) + 0.6 * len(heights)), layout="constrained")
    return fig, fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]


def tokens_figure(look: Look) -> Figure:
    """Each input as its tokens: text pieces, images with their patch grid, clips' log-mel with
    each token's start."""
    fig, axes = panels(look)
    for ax, (s, toks) in zip(axes, inputs_of(look)):
        draw_input(ax, look, s, toks)
    fig.suptitle(f"{len(look.tokens)} tokens", fontsize=10)
    return fig


def mark_spans(ax, look: Look) -> None:
    """Colour bars along both axes of a (T, T) picture for each input's run of tokens."""
    T, runs = len(look.tokens), spans(look)
    for a, b, _, c in runs:
        ax.axhspan(a - 0.5, b - 0.5, xmin=0, xmax=0.012, color=c, lw=0)
        ax.axvspan(a - 0.5, b - 0.5, ymin=0.988, ymax=1, color=c, lw=0)
    named = [(a, b, label) for a, b, label, _ in runs if label]
    ax.set_xticks([(a + b - 1) / 2 for a, b, _ in named], [n for *_, n in named], fontsize=7)
    ax.set_yticks([(a + b - 1) / 2 for a, b, _ in named], [n for *_, n in named], fontsize=7)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(T - 0.5, -0.5)


def draw_matrix(ax, look: Look, layer: int, head: int) -> None:
    weights = look.attention[look.layer_index(layer), look.head_index(head)].numpy()
    ax.imshow(weights, cmap="viridis", interpolation="nearest", vmin=0)
    mark_spans(ax, look)


def attention_figure(look: Look, layer: int, head: int) -> Figure:
    """One head's (T, T) weights: row = the token that looks, column = where it looks."""
    fig = Figure(figsize=(7, 6.5), layout="constrained")
    ax = fig.subplots()
    draw_matrix(ax, look, layer, head)
    ax.set_xlabel("key token (looked at)")
    ax.set_ylabel("query token (looking)")
    ax.set_title(
        f"layer {look.layer_index(layer)}, head {look.head_index(head)} ({look.mask} mask)"
    )
    return fig


def heads_figure(look: Look, layer: int) -> Figure:
    """Every head of one layer, side by side."""
    heads = look.shape[1]
    cols = math.ceil(math.sqrt(heads))
    rows = math.ceil(heads / cols)
    fig = Figure(figsize=(3.2 * cols, 3.2 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for h, ax in enumerate(axes):
        if h >= heads:
            ax.set_axis_off()
            continue
        draw_matrix(ax, look, layer, h)
        ax.set_title(f"head {h}", fontsize=9)
    fig.suptitle(f"layer {look.layer_index(layer)}, all heads ({look.mask} mask)")
    return fig


def query_figure(look: Look, layer: int, head: int | None = None, query=None) -> Figure:
    """Where one token (default: the last) looks in one layer and head (None: the heads'
    mean), painted onto each input, and over all tokens below."""
    q = look.query_index(query)
    weights = look.weights(layer, head, q).numpy()  # (T,)
    fig, axes = panels(look, extra=1.2)
    for ax, (s, toks) in zip(axes, inputs_of(look)):
        draw_input(ax, look, s, toks, weights[[t.column for t in toks]], q)
    strip = axes[-1]
    strip.bar(range(len(weights)), weights, color=[color(t) for t in look.tokens], width=1.0)
    strip.axvline(q, color="#e41a1c", lw=1)
    strip.set_xlim(-0.5, len(weights) - 0.5)
    strip.set_xlabel("token")
    strip.set_ylabel("weight")
    handles = [strip.bar(0, 0, color=c, label=k) for k, c in COLORS.items()]
    strip.legend(handles=handles, fontsize=7, ncols=len(COLORS), loc="upper left")
    who = "mean of heads" if head is None else f"head {look.head_index(head)}"
    tok = look.tokens[q]
    fig.suptitle(
        f"layer {look.layer_index(layer)}, {who}: where token {q} ({tok.label!r}) looks",
        fontsize=10,
    )
    return fig
