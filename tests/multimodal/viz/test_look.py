"""`viz.look`: one mixed sample read with its task's mask, every layer's weights recorded, and
bad layers, heads and query tokens refused with one sentence."""

import numpy as np
import pytest
import torch

from multimodal.errors import InputError
from multimodal.viz import look


def test_an_image_and_text_read_as_a_prompt(predictor, photo):
    seen = look(predictor, [photo, "a cat"])
    L, H, T = seen.shape
    assert (L, H) == (2, 4) and T == len(seen.tokens)
    kinds = [t.kind for t in seen.tokens]
    n_patches = 3 * 5  # 12 x 20 pixels in patches of 4
    assert kinds == ["marker"] + ["patch"] * n_patches + ["marker"] + ["text"] * (T - 17)
    assert seen.mask == "prefix"  # generation sees the image whole, the text causally
    torch.testing.assert_close(seen.attention.sum(-1), torch.ones(L, H, T))
    prefix = n_patches + 2
    assert (seen.attention[:, :, :prefix, :prefix] > 0).all()  # the prefix sees itself whole
    assert (seen.attention[:, :, :prefix, prefix:] == 0).all()  # and not the text after it
    later = torch.ones(T, T, dtype=torch.bool).triu(1)[prefix:, prefix:]
    assert (seen.attention[:, :, prefix:, prefix:][..., later] == 0).all()  # causal text
    assert seen.pictures[0].shape == (12, 20) and seen.pictures[1] is None


def test_the_pictures_are_the_inputs(predictor, photo, clip):
    from PIL import Image

    seen = look(predictor, [photo, clip], mask="bidirectional")
    expected = np.asarray(Image.open(photo), dtype=np.float32) / 255
    np.testing.assert_allclose(seen.pictures[0], expected, atol=1e-6)
    assert seen.pictures[1].shape[0] == 80  # log-mel (M, F)
    assert (seen.attention > 0).all()  # bidirectional: every token sees every token


@pytest.mark.parametrize("mask", ["causal", "bidirectional", "prefix"])
def test_a_given_mask_is_used(predictor, photo, mask):
    seen = look(predictor, [photo, "a cat"], mask=mask)
    upper = torch.ones(seen.shape[2], seen.shape[2], dtype=torch.bool).triu(1)
    looks_ahead = (seen.attention[..., upper] > 0).any().item()
    assert seen.mask == mask and looks_ahead == (mask != "causal")


def test_queries(predictor, photo):
    seen = look(predictor, [photo, "a cat"])
    T = seen.shape[2]
    assert seen.query_index(None) == seen.query_index(-1) == T - 1
    assert seen.query_index(0) == seen.query_index("0") == 0
    cat = seen.query_index("c")  # the byte-level vocabulary has one piece per letter
    assert seen.tokens[cat].piece == "c" and cat == T - 3
    torch.testing.assert_close(seen.weights(1, 2, cat), seen.attention[1, 2, cat])
    torch.testing.assert_close(seen.weights(1, None, cat), seen.attention[1, :, cat].mean(0))


@pytest.mark.parametrize(
    ("call", "sentence"),
    [
        (lambda s: s.weights(2, 0, None), "layer 2 is out of range; there are 2 layers (0 to 1)"),
        (lambda s: s.weights(-3, 0, None), "layer -3 is out of range; there are 2 layers"),
        (lambda s: s.weights(0, 4, None), "head 4 is out of range; there are 4 heads (0 to 3)"),
        (lambda s: s.weights(0, True, None), "head True is out of range"),
        (lambda s: s.query_index(999), "query token 999 is out of range; there are"),
        (lambda s: s.query_index("dog"), "query 'dog' is no text piece of the input"),
        (lambda s: s.query_index(1.5), "query is 1.5; expected a token index, a text piece"),
    ],
)
def test_bad_choices_are_one_sentence(predictor, photo, call, sentence):
    seen = look(predictor, [photo, "a cat"])
    with pytest.raises(InputError, match=sentence.replace("(", r"\(").replace(")", r"\)")):
        call(seen)


def test_inputs_no_task_reads_need_a_mask(predictor, photo, clip):
    with pytest.raises(InputError, match="or give the mask kind to look with"):
        look(predictor, [photo, clip])
    with pytest.raises(InputError, match="mask is 'sideways'; expected one of"):
        look(predictor, [photo], mask="sideways")
