"""Reading audio: a WAV, FLAC or OGG file (soundfile) or an array with its sample rate, to a
mono float32 waveform at the rate asked for (torchaudio's resampler).

Shapes: N samples, C channels.
"""

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch import Tensor

from multimodal.errors import InputError

# What libsndfile writes in a file's log when its data ends early (WAV: a size "should be"
# smaller than the header says; OGG: the last page is cut before its end-of-stream mark).
TRUNCATION_SIGNS = ("should be", "lacks an end-of-stream")


def read_file(path: str | Path) -> tuple[np.ndarray, int]:
    """A file's samples (N, C) float32 and its sample rate; raises `InputError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file {path} does not exist")
    try:
        f = sf.SoundFile(path)
    except sf.LibsndfileError as e:
        raise InputError(
            f"audio file {path} is not a readable WAV, FLAC or OGG file ({e.error_string})"
        ) from None
    with f:
        if any(sign in f.extra_info for sign in TRUNCATION_SIGNS):
            raise InputError(f"audio file {path} is truncated: it ends before its header says")
        try:
            data = f.read(dtype="float32", always_2d=True)  # (N, C)
        except sf.LibsndfileError as e:
            raise InputError(
                f"audio file {path} is truncated or corrupt ({e.error_string})"
            ) from None
        rate, expected = f.samplerate, f.frames
    if len(data) < expected:
        raise InputError(f"audio file {path} is truncated: {len(data)} of {expected} samples read")
    return data, rate


def as_float(array, name: str) -> np.ndarray:
    """Any numeric array as float32; integer PCM is scaled to [-1, 1)."""
    array = array.numpy() if isinstance(array, Tensor) else np.asarray(array)
    if np.issubdtype(array.dtype, np.integer):
        return (array / (np.iinfo(array.dtype).max + 1.0)).astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"audio {name} has dtype {array.dtype}; expected numbers")
    return array.astype(np.float32, copy=False)


def to_mono(array: np.ndarray, name: str) -> np.ndarray:
    """(N,), or 2-D with channels on the shorter axis, to (N,) by averaging channels."""
    if array.ndim == 1:
        return array
    if array.ndim != 2:
        raise InputError(f"audio {name} has shape {array.shape}; expected (samples,) or 2-D")
    channel_axis = 0 if array.shape[0] <= array.shape[1] else 1
    return array.mean(axis=channel_axis)


@lru_cache(maxsize=16)
def resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    """One resampling kernel per rate pair, built once."""
    return torchaudio.transforms.Resample(orig, new)


def load_audio(raw, sample_rate: int = 16000) -> tuple[Tensor, str]:
    """A path, or `(array, rate)`, to a finite mono waveform (N,) at `sample_rate`, and its name.

    Arrays may be (N,), (C, N) or (N, C) (channels on the shorter axis), float or integer PCM.
    """
    if isinstance(raw, str | Path):
        name = str(raw)
        data, rate = read_file(raw)
    elif isinstance(raw, tuple | list) and len(raw) == 2:
        data, rate = raw
        name = "array"
        data = as_float(data, name)
        if data.ndim == 0:
            raise InputError("audio array is a scalar; expected (samples,) or 2-D")
    else:
        raise InputError(
            f"audio input of type {type(raw).__name__} is not supported; expected a file path "
            "or an (array, sample_rate) pair"
        )
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise InputError(f"audio {name} has sample rate {rate!r}; expected a positive integer")
    if data.size == 0:
        raise InputError(f"audio {name} has no samples; expected a non-empty clip")
    wave = to_mono(data, name)
    if not np.isfinite(wave).all():
        raise InputError(f"audio {name} contains NaN or infinite samples")
    wave = torch.from_numpy(np.ascontiguousarray(wave))  # (N,)
    if rate != sample_rate:
        wave = resampler(int(rate), sample_rate)(wave)
    return wave, name
