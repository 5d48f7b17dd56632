"""Image reading: every source and pixel format by one rule, and each bad input named."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal.errors import InputError
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.tokenizers.image_io import load_image

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)  # (H, W, C)
ALPHA = RNG.integers(0, 256, (12, 10), dtype=np.uint8)
LUMA = (0.299, 0.587, 0.114)


def reference(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).float() / 255


@pytest.mark.parametrize("ext", ["png", "jpg", "bmp", "tiff", "webp", "gif"])
def test_formats_read_as_the_same_rgb(tmp_path, ext):
    path = tmp_path / f"a.{ext}"
    options = {"jpg": {"quality": 100}, "webp": {"lossless": True}}.get(ext, {})
    Image.fromarray(RGB).save(path, **options)
    img = load_image(path)
    assert img.shape == (3, 12, 10) and img.dtype == torch.float32
    expected = reference(np.asarray(Image.open(path).convert("RGB")))
    torch.testing.assert_close(img, expected, rtol=0, atol=1.5 / 255)
    if ext in ("png", "bmp", "tiff", "webp"):  # lossless
        torch.testing.assert_close(img, reference(RGB), rtol=0, atol=1e-6)


def test_gray_to_rgb_repeats_and_rgb_to_gray_is_bt601(tmp_path):
    Image.fromarray(RGB[..., 0]).save(tmp_path / "g.png")
    gray = load_image(tmp_path / "g.png", channels=3)
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    torch.testing.assert_close(gray[0], torch.from_numpy(RGB[..., 0]).float() / 255)
    Image.fromarray(RGB).save(tmp_path / "c.png")
    luma = sum(w * reference(RGB)[i] for i, w in enumerate(LUMA))
    for source in (tmp_path / "c.png", RGB, torch.from_numpy(RGB).permute(2, 0, 1)):
        torch.testing.assert_close(load_image(source, channels=1)[0], luma, rtol=0, atol=1e-3)


def test_alpha_is_composited_over_the_background(tmp_path):
    Image.fromarray(np.dstack([RGB, ALPHA])).save(tmp_path / "rgba.png")
    a = torch.from_numpy(ALPHA).float() / 255
    for background in (0.0, 1.0):
        img = load_image(tmp_path / "rgba.png", background=background)
        expected = reference(RGB) * a + background * (1 - a)
        torch.testing.assert_close(img, expected, rtol=0, atol=1e-6)
    Image.fromarray(np.dstack([RGB[..., 0], ALPHA]), mode="LA").save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png", channels=1, background=1.0)
    expected = torch.from_numpy(RGB[..., 0]).float() / 255 * a + (1 - a)
    torch.testing.assert_close(img[0], expected, rtol=0, atol=1e-6)


def test_palette_and_16_bit(tmp_path):
    Image.fromarray(RGB).quantize(16).save(tmp_path / "p.png")
    expected = reference(np.asarray(Image.open(tmp_path / "p.png").convert("RGB")))
    torch.testing.assert_close(load_image(tmp_path / "p.png"), expected, rtol=0, atol=1e-6)
    deep = RNG.integers(0, 65536, (6, 7), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    img = load_image(tmp_path / "d.png", channels=1)
    torch.testing.assert_close(img[0], torch.from_numpy(deep.astype(np.float32)) / 65535)
    torch.testing.assert_close(load_image(torch.from_numpy(deep), channels=1), img)


def test_pil_tensor_and_array_agree(tmp_path):
    expected = reference(RGB)
    for source in (
        Image.fromarray(RGB),
        RGB,
        torch.from_numpy(RGB).permute(2, 0, 1),
        torch.from_numpy(RGB).permute(2, 0, 1).float() / 255,
    ):
        torch.testing.assert_close(load_image(source), expected, rtol=0, atol=1e-6)


def write_png_header(path, width, height):
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_bad_files_are_named(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "ok.png")
    Image.fromarray(RGB).save(tmp_path / "ok.jpg")
    for ext in ("png", "jpg"):
        data = (tmp_path / f"ok.{ext}").read_bytes()
        (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
        with pytest.raises(InputError, match=rf"image file .*cut\.{ext} is truncated or corrupt"):
            load_image(tmp_path / f"cut.{ext}")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.png is not a readable image"):
        load_image(tmp_path / "notes.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.png is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.png")
    write_png_header(tmp_path / "zero.png", 0, 5)
    with pytest.raises(InputError, match=r"zero\.png has size 5x0"):
        load_image(tmp_path / "zero.png")
    with pytest.raises(InputError, match=r"missing\.png does not exist"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(
        InputError, match=r"ok\.png is 12x10 = 120 pixels, more than .*max_pixels=100"
    ):
        load_image(tmp_path / "ok.png", max_pixels=100)


def test_too_large_is_refused_before_decoding(tmp_path):
    # headers claiming huge sizes with no pixel data: refused from the header alone
    write_png_header(tmp_path / "big.png", 5000, 5000)
    with pytest.raises(InputError, match=r"big\.png is 5000x5000 = 25000000 pixels"):
        load_image(tmp_path / "big.png", max_pixels=10**6)
    write_png_header(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(InputError, match=r"bomb\.png is too large to decode safely"):
        load_image(tmp_path / "bomb.png", max_pixels=None)


def test_bad_arrays_are_named():
    with pytest.raises(InputError, match="has size 0x4"):
        load_image(torch.zeros(3, 0, 4))
    with pytest.raises(InputError, match="values outside"):
        load_image(torch.full((3, 2, 2), 2.0))
    with pytest.raises(InputError, match=r"has shape \(5, 2, 2\)"):
        load_image(torch.zeros(5, 2, 2))
    with pytest.raises(InputError, match="dtype torch.int64"):
        load_image(torch.zeros(3, 2, 2, dtype=torch.long))
    with pytest.raises(InputError, match="type list is not supported"):
        load_image([[0.0]])
    with pytest.raises(InputError, match="image input is 4x4 = 16 pixels"):
        ImageTokenizer(8, max_pixels=10).prepare(torch.rand(3, 4, 4))
