"""`write_all`: every picture of a `Look` as PNG files, and its page, in one folder.

out/tokens.png                          what the tokenizers made of each input
out/attention/layer<l>_head<h>.png      one head's (T, T) weights
out/attention/layer<l>_heads.png        every head of a layer
out/query/layer<l>_head<h>.png          where the query token looks, painted on the inputs
out/query/layer<l>_mean.png             the same, heads averaged
out/index.html                          the live page (`page.write_page`)
"""

import os
from pathlib import Path

from matplotlib.figure import Figure

from multimodal.errors import InputError
from multimodal.viz.figures import attention_figure, heads_figure, query_figure, tokens_figure
from multimodal.viz.look import Look
from multimodal.viz.page import write_page


def output_folder(out: str | os.PathLike) -> Path:
    """`out`, made if missing, and checked to be a folder this process can write."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"output folder {out} cannot be made: {e.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"output folder {out} cannot be written")
    return out


def save(fig: Figure, path: Path, dpi: int) -> Path:
    path.parent.mkdir(exist_ok=True)
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
    return path


def write_all(
    look: Look,
    out: str | os.PathLike,
    layer: int | None = None,
    head: int | None = None,
    query: int | str | None = None,
    title: str = "",
    dpi: int = 100,
) -> list[Path]:
    """Write the pictures of `layer` (None: every layer) and `head` (None: every head, their
    grid and their mean) for `query` (None: the last token); return the paths, page last."""
    layers = range(look.shape[0]) if layer is None else [look.layer_index(layer)]
    heads = range(look.shape[1]) if head is None else [look.head_index(head)]
    look.query_index(query)  # a bad query is refused before anything is written
    out = output_folder(out)
    paths = [save(tokens_figure(look), out / "tokens.png", dpi)]
    for i in layers:
        for h in heads:
            paths.append(
                save(attention_figure(look, i, h), out / f"attention/layer{i}_head{h}.png", dpi)
            )
            paths.append(
                save(query_figure(look, i, h, query), out / f"query/layer{i}_head{h}.png", dpi)
            )
        if head is None:
            paths.append(save(heads_figure(look, i), out / f"attention/layer{i}_heads.png", dpi))
            paths.append(
                save(query_figure(look, i, None, query), out / f"query/layer{i}_mean.png", dpi)
            )
    paths.append(write_page(look, out / "index.html", layer, title))
    return paths
