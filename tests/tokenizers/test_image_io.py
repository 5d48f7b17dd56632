"""Image reading: every source and pixel format by one rule, and each bad input named."""

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal.errors import InputError
from multimodal.tokenizers.image_io import FILE_BYTES_PER_PIXEL, FILE_SLACK_BYTES, load_image
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor

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
        ImagePreprocessor(max_pixels=10).prepare(torch.rand(3, 4, 4))


FIRST = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)  # (H, W, C), frame 0
SECOND = 255 - FIRST  # frame 1, different everywhere


@pytest.mark.parametrize("ext", ["gif", "webp", "png", "tiff"])  # GIF, WebP, APNG, multi-page
def test_multi_frame_files_give_their_first_frame(tmp_path, ext):
    frames = [Image.fromarray(FIRST), Image.fromarray(SECOND)]
    if ext == "gif":  # GIF frames are palette images; 16 colors keep them exact
        frames = [f.quantize(16) for f in frames]
    path = tmp_path / f"two.{ext}"
    frames[0].save(path, save_all=True, append_images=frames[1:], lossless=True)
    assert Image.open(path).n_frames == 2
    expected = reference(np.asarray(frames[0].convert("RGB")))
    torch.testing.assert_close(load_image(path), expected, rtol=0, atol=1e-6)
    assert load_image(path, channels=1).shape == (1, 6, 5)


def gif_bytes(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A GIF whose logical screen is `screen` (w, h) and whose one frame claims `frame`."""
    header = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return header + descriptor + b"\x02\x01\x2c\x00" + b"\x3b"  # clear + end code, trailer


def test_a_frame_larger_than_its_canvas_is_checked_from_its_header(tmp_path):
    (tmp_path / "wide.gif").write_bytes(gif_bytes((4, 4), (3000, 3000)))
    with pytest.raises(InputError, match=r"wide\.gif is 3000x3000 = 9000000 pixels"):
        load_image(tmp_path / "wide.gif", max_pixels=10**6)
    frames = [Image.fromarray(FIRST), Image.fromarray(SECOND)]
    frames[0].save(tmp_path / "a.png", save_all=True, append_images=frames[1:])
    data = bytearray((tmp_path / "a.png").read_bytes())
    at = data.index(b"fcTL") + 4  # the first frame's control chunk: seq, width, height, ...
    data[at + 4 : at + 12] = struct.pack(">II", 3000, 3000)
    data[at + 26 : at + 30] = struct.pack(">I", zlib.crc32(b"fcTL" + bytes(data[at : at + 26])))
    (tmp_path / "wide.png").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"wide\.png is truncated or corrupt"):
        load_image(tmp_path / "wide.png", max_pixels=10**6)


def test_paths_that_are_not_regular_files_are_refused_before_reading(tmp_path):
    with pytest.raises(InputError, match=r"is not a regular file \(a directory or a device\)"):
        load_image(tmp_path)
    if Path("/dev/zero").exists():
        with pytest.raises(InputError, match="/dev/zero is not a regular file"):
            load_image("/dev/zero")
    os.mkfifo(tmp_path / "pipe.png")  # opening it would block: refused from stat
    with pytest.raises(InputError, match=r"pipe\.png is not a regular file"):
        load_image(tmp_path / "pipe.png")
    with pytest.raises(InputError, match="cannot be read"):
        load_image("x" * 5000 + ".png")
    with pytest.raises(InputError, match="image file a\0b.png"):
        load_image("a\0b.png")
    with open(tmp_path / "huge.png", "wb") as f:  # sparse: its size is in stat, not on disk
        f.truncate(FILE_BYTES_PER_PIXEL * 100 + FILE_SLACK_BYTES + 1)
    with pytest.raises(InputError, match=r"huge\.png is \d+ bytes, more than the \d+ bytes"):
        load_image(tmp_path / "huge.png", max_pixels=100)
    with pytest.raises(InputError, match=r"huge\.png is not a readable image"):
        load_image(tmp_path / "huge.png", max_pixels=None)  # no bound: read, and found empty


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((4, 4), bool), "dtype bool"),
        (np.zeros((4, 4), np.complex64), "dtype complex64"),
        (np.zeros((4, 4), object), "dtype object"),
        (np.zeros((4, 4), np.int64), "dtype int64"),
        (np.zeros((4, 4), np.uint32), "dtype uint32"),
        (np.zeros((4, 4), "U1"), "dtype <U1"),
        (np.zeros((4, 4), np.int8), "dtype int8"),
        (np.zeros((4, 4), "datetime64[s]"), r"dtype datetime64\[s\]"),
        (torch.zeros(3, 4, 4, dtype=torch.int16), "dtype torch.int16"),
        (torch.zeros(3, 4, 4, dtype=torch.complex64), "dtype torch.complex64"),
        (torch.zeros(3, 4, 4).to_sparse(), "is a torch.sparse_coo tensor on cpu"),
        (torch.zeros(3, 4, 4, device="meta"), "is a torch.strided tensor on meta"),
        (torch.nested.nested_tensor([torch.zeros(3, 4, 4)] * 2), "is a nested tensor on cpu"),
        (np.zeros((2, 4, 4, 3), np.uint8), r"shape \(2, 4, 4, 3\), several images in one array"),
        (torch.zeros(2, 3, 4, 4), r"shape \(2, 3, 4, 4\), several images .* only a multi-frame"),
        (np.zeros((1, 1, 4, 4, 3)), r"shape \(1, 1, 4, 4, 3\); expected \(C, H, W\)"),
        (np.zeros(()), r"shape \(\); expected"),
        (np.zeros((4, 4, 0)), r"shape \(4, 4, 0\); expected"),
        (np.zeros((4, 4, 5)), r"shape \(4, 4, 5\); expected"),
        (np.full((4, 4), np.nan), r"values outside \[0, 1\] or not a number"),
        (torch.full((1, 4, 4), float("inf")), r"values outside \[0, 1\] or not a number"),
        (torch.full((1, 4, 4), -0.5, dtype=torch.bfloat16), r"values outside \[0, 1\]"),
        (np.zeros((4, 0, 3), np.uint8), "has size 4x0"),
        (None, "type NoneType is not supported"),
        (b"\x89PNG", "type bytes is not supported"),
        ({"pixels": 1}, "type dict is not supported"),
        (object(), "type object is not supported"),
    ],
)
def test_arrays_and_objects_that_are_no_image_are_named(array, message):
    with pytest.raises(InputError, match=f"image input .*{message}"):
        ImagePreprocessor(patch_size=4).prepare(array)


def test_float_widths_and_byte_orders_read_as_the_same_pixels():
    expected = reference(RGB)
    swapped = (RGB.astype(np.uint16) * 257).astype(">u2")  # big-endian 16-bit
    torch.testing.assert_close(load_image(swapped), expected, rtol=0, atol=1e-6)
    for dtype in (np.float16, np.float64, ">f4"):
        pixels = (RGB / 255).astype(dtype)
        torch.testing.assert_close(load_image(pixels), expected, rtol=0, atol=1e-3)
    chw = torch.from_numpy(RGB).permute(2, 0, 1) / 255
    torch.testing.assert_close(load_image(chw.bfloat16()), expected, rtol=0, atol=4e-3)
    read_only = RGB.copy()
    read_only.flags.writeable = False
    torch.testing.assert_close(load_image(read_only), expected, rtol=0, atol=1e-6)


def test_size_is_checked_before_an_array_is_copied():
    # 10^10 pixels as a broadcast view of one byte: copying it would take 30 GB
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (10**5, 10**5, 3))
    with pytest.raises(InputError, match="is 100000x100000 = 10000000000 pixels"):
        ImagePreprocessor().prepare(huge)
    with pytest.raises(InputError, match="is 100000x100000"):
        ImagePreprocessor().prepare(torch.zeros(1, 1, 1).expand(1, 10**5, 10**5))


PIL_MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "LA", "PA", "RGBX"]
PIL_MODES += ["RGBa", "La", "I;16", "I;16B"]


@pytest.mark.parametrize("mode", PIL_MODES)
def test_pil_images_of_every_mode_read_as_pillow_converts_them(mode):
    pil = Image.fromarray(np.dstack([RGB, ALPHA]), mode="RGBA").convert(mode)
    img = load_image(pil, background=1.0)
    assert img.shape == (3, 12, 10) and img.dtype == torch.float32
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or mode.startswith("I;16"):
        return  # alpha composited, or 16 bits: checked in the tests above
    expected = reference(np.asarray(pil.convert("RGB")))
    torch.testing.assert_close(img, expected, rtol=0, atol=1e-6)


def test_pil_modes_without_a_fixed_range_and_damaged_lazy_images_are_named(tmp_path):
    for mode in ("I", "F"):
        with pytest.raises(InputError, match=f"image input has PIL mode '{mode}', which has no"):
            load_image(Image.new(mode, (4, 3)))
    Image.fromarray(RGB).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) - 40])
    lazy = Image.open(tmp_path / "cut.png")  # pixels are read only when converted
    with pytest.raises(InputError, match="image input is truncated or corrupt"):
        load_image(lazy)
