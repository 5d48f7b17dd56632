"""Fuzzing image input: arrays of any shape and dtype, PIL images of any mode, damaged files of
every format (multi-frame ones included) and any other object give a valid segment or one
`InputError`, never another exception.

FUZZ_EXAMPLES sets the cases per test (default 200; `make fuzz` runs 10,000)."""

import io
import os
import tempfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as nps
from PIL import Image

from multimodal.errors import InputError
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_PIXELS = 2**16

OBJECTS = st.recursive(  # any plain Python value, nested
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner)),
    max_leaves=8,
)
DTYPES = st.one_of(
    nps.scalar_dtypes(),
    nps.unsigned_integer_dtypes(endianness="?", sizes=(8, 16)),
    nps.floating_dtypes(endianness="?"),
    st.just(np.dtype(object)),
)
SHAPES = nps.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=9)
ANY_ARRAY = DTYPES.flatmap(
    lambda dtype: nps.arrays(
        dtype, SHAPES, elements=st.integers(0, 3) if dtype == np.dtype(object) else None
    )
)
HW = nps.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40)
IMAGE_ARRAY = st.one_of(  # arrays that are images, in every accepted dtype and layout
    st.tuples(HW, st.sampled_from([(), (1,), (2,), (3,), (4,)])).flatmap(
        lambda s: nps.arrays(np.uint8, s[0] + s[1])
    ),
    HW.flatmap(lambda hw: nps.arrays(">u2", (*hw, 3))),
    HW.flatmap(lambda hw: nps.arrays(np.float32, (*hw, 1), elements=st.floats(0, 1, width=32))),
)
MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F", "LA", "PA"]
MODES += ["RGBX", "RGBa", "La", "I;16", "I;16B"]


def as_tensor(arr: np.ndarray, channels_first: bool):
    """The array as a tensor (its channel axis moved first) where torch has its dtype."""
    try:
        t = torch.from_numpy(arr.copy())
    except (TypeError, ValueError):
        return arr
    return t.movedim(-1, 0) if channels_first and t.ndim == 3 else t


@pytest.fixture(scope="module", params=[1, 3])
def tok(request) -> ImagePreprocessor:
    return ImagePreprocessor(
        patch_size=4, channels=request.param, max_patches=16, max_pixels=MAX_PIXELS
    )


def check_segment(tok: ImagePreprocessor, raw) -> None:
    seg = tok.prepare(raw)
    h, w = seg.meta["grid"]
    assert seg.data.shape == (tok.channels, 4 * h, 4 * w) and seg.data.dtype == torch.float32
    assert 1 <= h * w <= 16 and bool(torch.isfinite(seg.data).all())


def prepare_or_input_error(tok: ImagePreprocessor, raw) -> None:
    try:
        check_segment(tok, raw)
    except InputError:
        pass


@FUZZ
@given(raw=st.one_of(ANY_ARRAY, st.builds(as_tensor, ANY_ARRAY, st.booleans()), OBJECTS))
def test_any_array_or_object_gives_a_segment_or_one_input_error(tok, raw):
    prepare_or_input_error(tok, raw)


@FUZZ
@given(arr=IMAGE_ARRAY, to_tensor=st.booleans())
def test_arrays_that_are_images_always_give_a_segment(tok, arr, to_tensor):
    check_segment(tok, as_tensor(arr, channels_first=True) if to_tensor else arr)


@st.composite
def pil_images(draw) -> Image.Image:
    mode = draw(st.sampled_from(MODES))
    size = draw(st.tuples(st.integers(0, 12), st.integers(0, 12)))
    n = len(Image.new(mode, size).tobytes())
    return Image.frombytes(mode, size, draw(st.binary(min_size=n, max_size=n)))


@FUZZ
@given(pil=pil_images())
def test_pil_images_of_any_mode_give_a_segment_or_one_input_error(tok, pil):
    if pil.mode in ("I", "F") or 0 in pil.size:
        with pytest.raises(InputError):
            tok.prepare(pil)
    else:
        check_segment(tok, pil)


def encoded(fmt: str, frames: int, **options) -> bytes:
    """A small image file, `frames` frames long, as bytes."""
    rng = np.random.default_rng(frames)
    images = [
        Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)) for _ in range(frames)
    ]
    out = io.BytesIO()
    images[0].save(out, fmt, save_all=frames > 1, append_images=images[1:], **options)
    return out.getvalue()


FILES = {
    "png": encoded("PNG", 1),
    "apng": encoded("PNG", 3),
    "jpg": encoded("JPEG", 1),
    "gif": encoded("GIF", 3),
    "webp": encoded("WEBP", 3, lossless=True),
    "tiff": encoded("TIFF", 2),
    "bmp": encoded("BMP", 1),
}


@st.composite
def damaged_files(draw) -> tuple[str, bytes]:
    """A real file of some format, truncated and/or with some bytes overwritten."""
    ext = draw(st.sampled_from(sorted(FILES)))
    data = bytearray(FILES[ext])
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at : at + 2] = draw(st.binary(min_size=1, max_size=2))
    cut = draw(st.integers(0, len(data)))
    return ext, bytes(data[:cut] if draw(st.booleans()) else data)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as path:
        yield path


@FUZZ
@given(file=damaged_files())
def test_damaged_files_of_every_format_give_a_segment_or_one_input_error(tok, folder, file):
    ext, data = file
    path = os.path.join(folder, f"fuzz.{ext}")
    with open(path, "wb") as f:
        f.write(data)
    if data == FILES[ext]:
        check_segment(tok, path)
    else:
        prepare_or_input_error(tok, path)
