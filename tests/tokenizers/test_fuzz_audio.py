"""Fuzzing audio input: any object, arrays of any shape, dtype, length and values, any sample
rate, and damaged files give a valid segment or one `InputError`, never another exception, NaN
features or a clip past `max_seconds`.

FUZZ_EXAMPLES sets the cases per test (default 200; `make fuzz` runs 10,000)."""

import io
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as nps

from multimodal.errors import InputError
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_SECONDS = 0.5

OBJECTS = st.recursive(  # any plain Python value, nested
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner)),
    max_leaves=8,
)
RATES = st.one_of(
    st.integers(-10, 10**7),
    st.sampled_from([1000, 8000, 8001, 16000, 16001, 22050, 44100, 48000, 383999, 384000]),
    st.floats(),
    st.none(),
    st.text(max_size=3),
    st.booleans(),
)
DTYPES = st.one_of(
    nps.scalar_dtypes(),
    nps.integer_dtypes(endianness="?"),
    nps.floating_dtypes(endianness="?"),
    st.just(np.dtype(object)),
)
SHAPES = nps.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=600)
ANY_ARRAY = DTYPES.flatmap(
    lambda dtype: nps.arrays(
        dtype, SHAPES, elements=st.integers(0, 3) if dtype == np.dtype(object) else None
    )
)
LOUDNESS = st.sampled_from([0.0, 1e-30, 0.5, 1.0, 999.0, 1e4, 1e20, np.inf, np.nan])
WAVES = st.tuples(st.integers(1, 12_000), st.integers(1, 3), LOUDNESS).map(
    lambda s: np.random.default_rng(s[0]).uniform(-1, 1, (s[0], s[1])).astype(np.float32) * s[2]
)


@pytest.fixture(scope="module")
def tok() -> AudioPreprocessor:
    return AudioPreprocessor(max_seconds=MAX_SECONDS)


def check(tok: AudioPreprocessor, raw) -> None:
    """A segment of finite log-mel no longer than max_seconds, or one InputError."""
    try:
        seg = tok.prepare(raw)
    except InputError:
        return
    assert seg.data.shape[0] == tok.n_mels and torch.isfinite(seg.data).all()
    assert seg.meta["seconds"] <= MAX_SECONDS + 1e-6


@FUZZ
@given(raw=st.one_of(OBJECTS, st.tuples(ANY_ARRAY, RATES), st.tuples(OBJECTS, RATES)))
def test_any_object_or_array_gives_a_segment_or_one_input_error(tok, raw):
    check(tok, raw)


@FUZZ
@given(wave=WAVES, rate=RATES, as_tensor=st.booleans())
def test_waves_of_any_length_rate_and_loudness(tok, wave, rate, as_tensor):
    check(tok, (torch.from_numpy(wave) if as_tensor else wave, rate))


@FUZZ
@given(
    wave=WAVES,
    rate=st.sampled_from([1000, 8000, 11025, 16000, 44100]),
    fmt=st.sampled_from(["WAV", "FLAC", "OGG"]),
    cut=st.one_of(st.none(), st.integers(0, 4000)),
    flip=st.lists(st.integers(0, 4000), max_size=3),
)
def test_files_whole_cut_or_damaged(tok, tmp_path_factory, wave, rate, fmt, cut, flip):
    buffer = io.BytesIO()
    try:
        sf.write(buffer, np.clip(np.nan_to_num(wave), -1, 1), rate, format=fmt)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return  # a format that cannot hold this many channels or this rate
    data = bytearray(buffer.getvalue()[:cut] if cut is not None else buffer.getvalue())
    for i in flip:
        if i < len(data):
            data[i] ^= 0xFF
    path = tmp_path_factory.mktemp("clip") / f"clip.{fmt.lower()}"
    path.write_bytes(bytes(data))
    check(tok, path)
    check(tok, str(path))
