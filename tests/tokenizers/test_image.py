"""Image: the preprocessor's grids, patch layout, normalization and augmentation; the module's
2D positions, mixed sizes and shapes."""

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import v2

from multimodal.errors import InputError
from multimodal.segment import Segment
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor, grid_size
from multimodal.tokenizers.patch_embed import patchify
from multimodal.tokenizers.pos_embed_2d import Learned2d, SinCos2d, make_pos_embed


@pytest.mark.parametrize(
    "size, grid", [((28, 28), (7, 7)), ((56, 40), (14, 10)), ((4, 4), (1, 1)), ((2, 3), (1, 1))]
)
def test_grid_at_patch_4(size, grid):
    assert grid_size(*size, patch_size=4, max_patches=1024) == grid
    tok = ImagePreprocessor(patch_size=4, channels=1, max_patches=1024)
    seg = tok.prepare(torch.rand(1, *size))
    assert seg.meta["grid"] == grid
    assert tuple(seg.data.shape) == (1, grid[0] * 4, grid[1] * 4)
    assert tok.num_tokens(seg) == grid[0] * grid[1]


def test_grid_rounds_half_up_and_respects_the_patch_budget():
    assert grid_size(30, 34, 4, 1024) == (8, 9)  # 7.5 -> 8, 8.5 -> 9
    assert grid_size(427, 640, 16, 256) == (13, 19)  # 27 x 40 would be 1080 patches
    for h, w, budget in [(427, 640, 256), (10, 10_000, 16), (999, 3, 7), (64, 64, 1)]:
        gh, gw = grid_size(h, w, 4, budget)
        assert 1 <= gh and 1 <= gw and gh * gw <= budget
    gh, gw = grid_size(400, 800, 4, 200)  # aspect ratio kept: 10 x 20
    assert (gh, gw) == (10, 20)


def test_min_patches_scales_small_images_up():
    assert grid_size(21, 21, 7, max_patches=16, min_patches=16) == (4, 4)
    assert grid_size(42, 42, 7, max_patches=16, min_patches=16) == (4, 4)  # down, exactly
    assert grid_size(14, 7, 7, max_patches=64, min_patches=8) == (4, 2)  # aspect kept
    tok = ImagePreprocessor(patch_size=7, channels=1, max_patches=16, min_patches=16)
    for size in [(21, 21), (28, 28), (56, 56), (90, 90)]:
        assert tok.prepare(torch.rand(1, *size)).data.shape == (1, 28, 28)
    with pytest.raises(InputError, match="1 <= min_patches <= max_patches"):
        ImagePreprocessor(max_patches=4, min_patches=5)


def test_patchify_equals_a_hand_computed_unfold():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6)  # (C, H, W), p = 2
    patches = patchify(x, 2)  # (h*w, C*p*p) = (6, 8)
    # patch (row 0, col 1) covers rows 0..1, cols 2..3 of both channels, channel-major
    expected = torch.tensor([2.0, 3, 8, 9, 26, 27, 32, 33])
    assert torch.equal(patches[1], expected)
    # patch (row 1, col 2) is the last one in row-major order
    assert torch.equal(patches[5], torch.tensor([16.0, 17, 22, 23, 40, 41, 46, 47]))
    assert torch.equal(patches, F.unfold(x[None], 2, stride=2)[0].T)
    batch = torch.randn(3, 3, 8, 12)
    assert torch.equal(patchify(batch, 4), F.unfold(batch, 4, stride=4).transpose(1, 2))


def test_linear_patch_embedding_equals_a_strided_conv():
    tok = ImageTokenizer(24, patch_size=4, channels=3)
    x = torch.randn(2, 3, 8, 12)
    ours = tok.patch_embed(patchify(x, 4))  # (S, L, D)
    proj = tok.patch_embed.proj
    conv = F.conv2d(x, proj.weight.view(24, 3, 4, 4), proj.bias, stride=4)  # (S, D, h, w)
    torch.testing.assert_close(ours, conv.flatten(2).transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_sincos_at_row_col_equals_the_formula():
    D, F4 = 16, 4
    table = SinCos2d(D)(3, 5)  # (15, 16)
    r, c = 2, 3
    omega = [10000 ** (-k / F4) for k in range(F4)]
    expected = (
        [math.sin(r * w) for w in omega]
        + [math.cos(r * w) for w in omega]
        + [math.sin(c * w) for w in omega]
        + [math.cos(c * w) for w in omega]
    )
    torch.testing.assert_close(table[r * 5 + c], torch.tensor(expected), rtol=0, atol=1e-6)
    # any grid: the vector of (row, col) does not depend on the grid it sits in
    torch.testing.assert_close(SinCos2d(D)(9, 11)[r * 11 + c], table[r * 5 + c])
    with pytest.raises(InputError, match="divisible by 4"):
        SinCos2d(18)


def test_learned_positions_interpolate_to_any_grid():
    pe = Learned2d(8, grid=(4, 4))
    assert torch.equal(pe(4, 4), pe.weight.flatten(1).T)  # native grid: the table itself
    assert pe(7, 3).shape == (21, 8)
    flat = Learned2d(2, grid=(2, 2))
    with torch.no_grad():
        flat.weight.fill_(0.5)
    torch.testing.assert_close(flat(5, 9), torch.full((45, 2), 0.5))  # constant stays constant
    with pytest.raises(InputError, match="pos_embed 'rope' is unknown"):
        make_pos_embed("rope", 8)


@pytest.mark.parametrize("pos_embed", ["sincos", "learned"])
def test_forward_adds_positions_and_modality_embedding(pos_embed):
    tok = ImageTokenizer(16, patch_size=2, channels=1, pos_embed=pos_embed, pos_grid=(3, 2))
    with torch.no_grad():
        tok.patch_embed.proj.weight.zero_()
        tok.patch_embed.proj.bias.zero_()
        tok.modality_embedding.fill_(0.25)
    seg = tok.prepare(torch.rand(1, 6, 4))  # grid 3 x 2
    out = tok(tok.collate([seg]))  # (1, 6, 16)
    torch.testing.assert_close(out[0], tok.pos_embed(3, 2) + 0.25)


def test_mixed_sizes_pack_without_cropping_and_match_single_images():
    torch.manual_seed(0)
    tok = ImageTokenizer(16, patch_size=4, channels=1, class_token=True).eval()
    small, tall = tok.prepare(torch.rand(28, 28)), tok.prepare(torch.rand(1, 56, 40))
    collated = tok.collate([small, tall])
    assert collated["patches"].shape == (2, 140, 16)
    assert collated["grid"].tolist() == [[7, 7], [14, 10]]
    assert torch.all(collated["patches"][0, 49:] == 0)  # padding after the 49 real patches
    out = tok(collated)  # (2, 1 + 140, 16)
    for i, seg in enumerate([small, tall]):
        alone = tok(tok.collate([seg]))[0]  # (num_tokens, D)
        n = tok.num_tokens(seg)
        torch.testing.assert_close(out[i, :n], alone[:n])
    assert tok.num_tokens(tall) == 141
    assert torch.equal(out[0, 0], out[1, 0])  # the same class token first in every image


def test_normalization_and_resize_rule():
    tok = ImagePreprocessor(patch_size=4, channels=1, mean=[0.25], std=[0.5])
    seg = tok.prepare(torch.full((1, 8, 8), 0.75))
    assert torch.allclose(seg.data, torch.ones(1, 8, 8))  # (0.75 - 0.25) / 0.5
    seg = tok.prepare(torch.full((1, 30, 34), 0.5))  # resized to 32 x 36, values kept
    assert seg.data.shape == (1, 32, 36) and seg.meta["size"] == (30, 34)
    assert torch.allclose(seg.data, torch.full_like(seg.data, 0.5))
    big = ImagePreprocessor(patch_size=16, channels=3, max_patches=256)
    seg = big.prepare(torch.rand(3, 427, 640))
    assert seg.data.shape == (3, 13 * 16, 19 * 16)


def test_8_bit_fast_path_matches_the_float_path():
    tok = ImagePreprocessor(
        patch_size=16, channels=3, max_patches=12, mean=[0.0] * 3, std=[1.0] * 3
    )
    pixels = torch.randint(0, 256, (3, 61, 90), dtype=torch.uint8)
    fast = tok.prepare(pixels).data  # resized as uint8, then scaled
    exact = tok.prepare(pixels.float() / 255).data  # scaled, then resized as float
    assert fast.shape == exact.shape == (3, 32, 64)
    torch.testing.assert_close(fast, exact, rtol=0, atol=1.01 / 255)


def test_augmentation_only_when_training():
    flip = v2.RandomHorizontalFlip(p=1.0)
    tok = ImageTokenizer(8, patch_size=2, channels=1, augment=[flip])
    img = torch.rand(1, 4, 6)
    assert torch.allclose(tok.prepare(img).data, (img - 0.5) / 0.5)
    assert torch.allclose(tok.prepare(img, train=True).data, (img.flip(-1) - 0.5) / 0.5)
    assert tok.preprocessor.augment == (flip,)
    assert "augment" not in dict(tok.named_modules())  # transforms hold no state
    assert not any("augment" in k for k in tok.state_dict())


def test_preprocessor_is_picklable_for_workers():
    tok = ImagePreprocessor(patch_size=2, channels=1, augment=[v2.RandomHorizontalFlip()])
    clone = pickle.loads(pickle.dumps(tok))
    img = torch.rand(1, 4, 4)
    assert torch.equal(clone.prepare(img).data, tok.prepare(img).data)


def test_segment_that_did_not_come_from_prepare_is_named():
    tok = ImagePreprocessor(patch_size=4, channels=1)
    with pytest.raises(InputError, match=r"image segment has shape \(1, 6, 8\)"):
        tok.num_tokens(Segment("image", torch.zeros(1, 6, 8)))
    with pytest.raises(InputError, match="channels' must be 1 or 3"):
        ImagePreprocessor(channels=2)
    with pytest.raises(InputError, match="'mean' and 'std' need 3 values"):
        ImagePreprocessor(mean=[0.5])


def test_an_animated_file_prepares_as_its_first_frame(tmp_path):
    first = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    frames = [Image.fromarray(first).quantize(8), Image.fromarray(255 - first).quantize(8)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].convert("RGB").save(tmp_path / "first.png")
    tok = ImagePreprocessor(patch_size=4)
    anim, still = tok.prepare(tmp_path / "anim.gif"), tok.prepare(str(tmp_path / "first.png"))
    assert torch.equal(anim.data, still.data) and anim.meta["grid"] == still.meta["grid"] == (2, 2)
    assert anim.meta["source"] == str(tmp_path / "anim.gif")


def test_frames_in_one_tensor_are_refused_not_cut():
    tok = ImagePreprocessor(patch_size=4)
    with pytest.raises(InputError, match=r"frame 3 has shape \(2, 3, 8, 8\), several images"):
        tok.prepare(torch.rand(2, 3, 8, 8), name="frame 3")
