"""Reading audio: a WAV, FLAC or OGG file (soundfile) or an array with its sample rate, to a
mono float32 waveform at the rate asked for (`resample.resampler`).

What a clip may cost is checked before it is paid: the sample rate (a whole number of Hz from
MIN_RATE to MAX_RATE), the channels (at most MAX_CHANNELS) and the length (at most
`max_seconds`) come from the file's header or the array's shape, before any sample is read,
converted or resampled. Float samples must be finite and within +-MAX_AMPLITUDE (nominally
+-1; much louder ones overflow a float32 power spectrum); integer PCM is scaled to [-1, 1).

Shapes: N samples, C channels.
"""

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from multimodal.errors import InputError
from multimodal.tokenizers.resample import resampler

MIN_RATE, MAX_RATE = 1_000, 384_000  # Hz
MAX_CHANNELS = 8
MAX_AMPLITUDE = 1e3

# What libsndfile writes in a file's log when its data ends early (WAV: a size "should be"
# smaller than the header says; OGG: the last page is cut before its end-of-stream mark).
TRUNCATION_SIGNS = ("should be", "lacks an end-of-stream")


def check_rate(rate, name: str) -> int:
    """`rate` as an int, if it is a whole number of Hz in range."""
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer):
        raise InputError(
            f"audio {name} has sample rate {rate!r}; expected a whole number of Hz from "
            f"{MIN_RATE} to {MAX_RATE}"
        )
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(
            f"audio {name} has sample rate {rate} Hz; expected {MIN_RATE} to {MAX_RATE} Hz"
        )
    return int(rate)


def too_long(name: str, seconds: float, max_seconds: float) -> InputError:
    return InputError(
        f"audio {name} is {seconds:.2f} s long; the audio tokenizer takes at most "
        f"{max_seconds:g} s (max_seconds)"
    )


def check_size(frames: int, channels: int, rate: int, name: str, max_seconds: float) -> None:
    """Refuse too many channels, no samples, or more than `max_seconds`, before reading."""
    if channels > MAX_CHANNELS:
        raise InputError(f"audio {name} has {channels} channels; expected at most {MAX_CHANNELS}")
    if frames == 0 or channels == 0:
        raise InputError(f"audio {name} has no samples; expected a non-empty clip")
    if frames / rate > max_seconds:
        raise too_long(name, frames / rate, max_seconds)


def check_shape(shape: tuple, rate: int, name: str, max_seconds: float) -> int | None:
    """The channel axis of an array of `shape` (None for (N,)), once its size is allowed."""
    if len(shape) == 0:
        raise InputError(f"audio {name} is a scalar; expected (samples,) or 2-D")
    if len(shape) > 2:
        raise InputError(f"audio {name} has shape {shape}; expected (samples,) or 2-D")
    if len(shape) == 1:
        check_size(shape[0], 1, rate, name, max_seconds)
        return None
    channel_axis = int(shape[0] > shape[1])  # channels on the shorter axis
    check_size(shape[1 - channel_axis], shape[channel_axis], rate, name, max_seconds)
    return channel_axis


def check_samples(data: np.ndarray, name: str) -> None:
    """Float samples must be finite and within +-MAX_AMPLITUDE (min and max: no temporaries)."""
    if data.dtype.kind != "f":
        return
    low, high = data.min(), data.max()  # NaN if any sample is NaN
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputError(f"audio {name} contains NaN or infinite samples")
    if max(-low, high) > MAX_AMPLITUDE:
        raise InputError(
            f"audio {name} reaches amplitude {max(-low, high):.3g}; expected float samples "
            f"within +-{MAX_AMPLITUDE:g} (nominally +-1)"
        )


def read_file(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    """A file's samples, (N,) or (N, C) float32, and its rate; the header is checked first."""
    try:
        is_file = path.is_file()
    except OSError as e:  # a name too long for the file system, ...
        raise InputError(f"audio file {path} cannot be looked up ({e.strerror})") from None
    if not is_file:
        raise InputError(f"audio file {path} does not exist")
    return read_sound(path, f"audio file {path}", max_seconds, str(path))


def read_sound(
    source, name: str, max_seconds: float, checked_as: str | None = None
) -> tuple[np.ndarray, int]:
    """A sound file's samples, (N,) or (N, C) float32, and its rate; the header is checked
    before any sample is read. `source`: a path or a file object of WAV, FLAC or OGG bytes;
    `name` starts each sentence, `checked_as` names it to the rate and size checks (`name`)."""
    checked_as = checked_as or name
    try:
        f = sf.SoundFile(source)
    except sf.LibsndfileError as e:
        raise InputError(
            f"{name} is not a readable WAV, FLAC or OGG file ({e.error_string})"
        ) from None
    with f:
        if any(sign in f.extra_info for sign in TRUNCATION_SIGNS):
            raise InputError(f"{name} is truncated: it ends before its header says")
        rate = check_rate(f.samplerate, checked_as)
        check_size(f.frames, f.channels, rate, checked_as, max_seconds)
        try:
            data = f.read(dtype="float32")  # (N,) or (N, C)
        except sf.LibsndfileError as e:
            raise InputError(f"{name} is truncated or corrupt ({e.error_string})") from None
        expected = f.frames
    if len(data) < expected:
        raise InputError(f"{name} is truncated: {len(data)} of {expected} samples read")
    return data, rate


def as_array(data, name: str) -> np.ndarray | Tensor:
    """An array or tensor as it is (nothing copied yet); anything else through `np.asarray`."""
    if isinstance(data, Tensor):
        if data.is_nested or data.layout != torch.strided:
            raise InputError(f"audio {name} is a nested or sparse tensor; expected a dense one")
        return data
    try:
        return np.asarray(data)
    except Exception:  # whatever a user's object raises (ragged lists, a failing __array__)
        raise InputError(
            f"audio {name} of type {type(data).__name__} is not an array of numbers"
        ) from None


def as_numpy(data: np.ndarray | Tensor, name: str) -> np.ndarray:
    """A tensor on any device as numpy; only 16- and 8-bit floats are converted (to float32)."""
    if isinstance(data, np.ndarray):
        return data
    try:
        data = data.detach()
        if data.is_floating_point() and data.dtype not in (torch.float32, torch.float64):
            data = data.float()  # numpy has no bfloat16 or float8
        return data.cpu().numpy()
    except (TypeError, RuntimeError):  # quantized, meta, ...
        raise InputError(f"audio {name} is a {data.dtype} tensor numpy cannot read") from None


def to_mono(data: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """(N,), (N, C) or (C, N) numbers to (N,) float32: channels averaged, integer PCM scaled."""
    if channel_axis is None:
        wave = data.astype(np.float32, copy=False)  # no copy for float32
    else:
        wave = data.mean(axis=channel_axis, dtype=np.float32)  # converts as it goes
    if data.dtype.kind in "iu":
        wave *= np.float32(1.0 / (np.iinfo(data.dtype).max + 1.0))  # wave is a new array
    return wave


def read_array(data, rate: int, max_seconds: float) -> tuple[np.ndarray, int | None]:
    """Numbers of any array kind as numpy, and their channel axis, after their size is checked."""
    name = "array"
    if isinstance(data, tuple | list) and len(data) > max(MAX_CHANNELS, max_seconds * rate):
        raise too_long(name, len(data) / rate, max_seconds)  # before the list is copied
    data = as_array(data, name)
    channel_axis = check_shape(tuple(data.shape), rate, name, max_seconds)
    data = as_numpy(data, name)
    if data.dtype.kind not in "iuf":
        raise InputError(
            f"audio {name} has dtype {data.dtype}; expected integer PCM or float samples"
        )
    return data, channel_axis


def load_audio(raw, sample_rate: int = 16000, max_seconds: float = 30.0) -> tuple[Tensor, str]:
    """A path, or `(array, rate)`, to a finite mono waveform (N,) at `sample_rate`, and its name.

    Arrays may be (N,), (C, N) or (N, C) (channels on the shorter axis), float or integer PCM,
    numpy, torch or nested lists. Longer than `max_seconds` raises `InputError` before any
    sample is read or resampled.
    """
    if isinstance(raw, str | Path):
        name = str(raw)
        data, rate = read_file(Path(raw), max_seconds)
        channel_axis = 1 if data.ndim == 2 else None
    elif isinstance(raw, tuple | list) and len(raw) == 2:
        name = "array"
        rate = check_rate(raw[1], name)
        data, channel_axis = read_array(raw[0], rate, max_seconds)
    else:
        raise InputError(
            f"audio input of type {type(raw).__name__} is not supported; expected a file path "
            "or an (array, sample_rate) pair"
        )
    check_samples(data, name)
    wave = torch.from_numpy(np.ascontiguousarray(to_mono(data, channel_axis)))  # (N,)
    if rate != sample_rate:
        wave = resampler(rate, sample_rate)(wave)
    return wave, name
