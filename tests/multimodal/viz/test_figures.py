"""The figures draw what the look holds: the matrix is the weights, the heat map over an image
is its patches' weights in grid order, the band over a clip follows its tokens' spans."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from multimodal.viz import attention_figure, heads_figure, look, query_figure, tokens_figure


def strip(fig):
    """The bar chart of every token's weight below the inputs."""
    return next(ax for ax in fig.axes if ax.get_ylabel() == "weight")


@pytest.fixture
def seen(predictor, photo, clip):
    return look(predictor, [photo, clip, "a cat"], mask="prefix")


def test_the_matrix_is_the_weights(seen):
    fig = attention_figure(seen, 1, 3)
    (image,) = fig.axes[0].images
    np.testing.assert_array_equal(image.get_array(), seen.attention[1, 3].numpy())
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["image 0", "audio 1", "text 2"]


def test_every_head_is_drawn(seen):
    fig = heads_figure(seen, 0)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 4
    for h, ax in enumerate(drawn):
        np.testing.assert_array_equal(ax.images[0].get_array(), seen.attention[0, h].numpy())


def test_the_query_is_painted_onto_each_input(seen):
    q = seen.query_index("c")
    fig = query_figure(seen, 1, 2, "c")
    weights = seen.attention[1, 2, q].numpy()
    patches = [t for t in seen.tokens if t.kind == "patch"]
    grid = np.array([weights[t.column] for t in patches]).reshape(3, 5)
    heat = fig.axes[0].images[1].get_array()  # over the image's pixels
    np.testing.assert_allclose(heat, grid / grid.max(), rtol=1e-6)
    assert fig.axes[0].images[1].get_extent() == [0, 20, 12, 0]
    frames = [t for t in seen.tokens if t.kind == "frames"]
    band = fig.axes[1].patches  # one span per audio token, as opaque as its weight
    assert len(band) == len(frames)
    top = max(weights[t.column] for t in frames)
    for span, tok in zip(band, frames):
        assert span.get_alpha() == pytest.approx(0.85 * weights[tok.column] / top, abs=1e-6)
    bars = [b.get_height() for b in strip(fig).patches[: len(weights)]]
    np.testing.assert_allclose(bars, weights, rtol=1e-6)


def test_head_none_paints_the_mean(seen):
    fig = query_figure(seen, 0, None, None)
    bars = [b.get_height() for b in strip(fig).patches[: seen.shape[2]]]
    np.testing.assert_allclose(bars, seen.attention[0, :, -1].mean(0).numpy(), rtol=1e-6)


def test_tokens_figure_draws_each_input(seen, tmp_path):
    fig = tokens_figure(seen)
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split(": ")[1].split(",")[0] for ax in panels] == [
        "image",
        "audio",
        "text",
    ]
    pieces = [t.get_text() for t in panels[2].texts]
    assert pieces == ["a", "\u2423", "c", "a", "t"]
    fig.savefig(tmp_path / "tokens.png")
    assert (tmp_path / "tokens.png").stat().st_size > 1000
