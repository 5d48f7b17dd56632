"""load_audio: rates, channels, lengths and amplitudes refused from headers and shapes, before
anything is read, copied or resampled."""

import numpy as np
import pytest
import soundfile as sf
import torch

from multimodal.errors import InputError
from multimodal.tokenizers import audio_io
from multimodal.tokenizers.audio_io import MAX_AMPLITUDE, MAX_RATE, MIN_RATE, load_audio


def noise(frames: int, channels: int = 1) -> np.ndarray:
    shape = (frames,) if channels == 1 else (frames, channels)
    return np.random.default_rng(0).uniform(-0.5, 0.5, shape).astype(np.float32)


@pytest.fixture
def reads(monkeypatch):
    """Every call that would read samples or resample them, recorded."""
    calls = []
    read, resampler = sf.SoundFile.read, audio_io.resampler

    def spy_read(self, *args, **kwargs):
        calls.append("read")
        return read(self, *args, **kwargs)

    def spy_resampler(orig, new):
        calls.append(f"resample {orig}")
        return resampler(orig, new)

    monkeypatch.setattr(sf.SoundFile, "read", spy_read)
    monkeypatch.setattr(audio_io, "resampler", spy_resampler)
    return calls


def test_a_long_file_is_refused_from_its_header_before_it_is_read(tmp_path, reads):
    path = tmp_path / "hour.wav"
    sf.write(path, np.zeros(3600 * MIN_RATE, np.int16), MIN_RATE, subtype="PCM_U8")  # 3.6 MB
    with pytest.raises(InputError, match=r"hour.wav is 3600.00 s long; .* at most 30 s"):
        load_audio(path, max_seconds=30)
    assert reads == []
    load_audio(path, max_seconds=3600)  # the same file within the limit: read, then resampled
    assert reads == ["read", f"resample {MIN_RATE}"]


def test_a_long_array_at_a_low_rate_is_refused_before_it_is_resampled(reads):
    with pytest.raises(InputError, match=r"array is 31.00 s long; .* at most 30 s"):
        load_audio((noise(31 * MIN_RATE), MIN_RATE), max_seconds=30)
    assert reads == []


@pytest.mark.parametrize("rate", [1, MIN_RATE - 1, MAX_RATE + 1, 2**31 - 1])
def test_rates_outside_the_range_are_refused_before_reading(tmp_path, reads, rate):
    path = tmp_path / "odd.wav"
    sf.write(path, noise(2000), rate)
    match = rf"odd.wav has sample rate {rate} Hz; expected 1000 to 384000 Hz"
    with pytest.raises(InputError, match=match):
        load_audio(path)
    with pytest.raises(InputError, match=rf"array has sample rate {rate} Hz"):
        load_audio((noise(2000), rate))
    assert reads == []


@pytest.mark.parametrize("rate", [MIN_RATE, 8001, 16001, 44101, MAX_RATE])
def test_rates_in_the_range_give_the_same_length_at_16k(tmp_path, rate):
    path = tmp_path / "clip.flac"
    sf.write(path, noise(rate // 4), rate)  # 0.25 s
    wave, name = load_audio(path)
    assert name == str(path) and wave.shape == (4000,) and wave.dtype == torch.float32
    assert 0.05 < wave.std() < 0.5


def test_channels_beyond_the_bound_are_refused_from_the_header(tmp_path, reads):
    sf.write(tmp_path / "nine.wav", noise(1600, 9), 16000)
    with pytest.raises(InputError, match=r"nine.wav has 9 channels; expected at most 8"):
        load_audio(tmp_path / "nine.wav")
    assert reads == []
    eight = noise(1600, 8)
    sf.write(tmp_path / "eight.wav", eight, 16000, subtype="FLOAT")
    assert torch.allclose(load_audio(tmp_path / "eight.wav")[0], torch.from_numpy(eight.mean(1)))
    assert torch.equal(load_audio((eight, 16000))[0], load_audio((eight.T, 16000))[0])


@pytest.mark.parametrize("peak", [1e20, 1001.0, np.inf, np.nan])
def test_float_samples_louder_than_the_bound_are_refused(tmp_path, peak):
    wave = noise(1600)
    wave[800] = peak
    match = "reaches amplitude" if np.isfinite(peak) else "contains NaN or infinite samples"
    with pytest.raises(InputError, match=match):
        load_audio((wave, 16000))
    with pytest.raises(InputError, match=match):
        load_audio((torch.from_numpy(wave).double(), 16000))
    sf.write(tmp_path / "loud.wav", wave, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match=match):
        load_audio(tmp_path / "loud.wav")
    wave[800] = -peak  # either sign
    with pytest.raises(InputError, match=match):
        load_audio((np.stack([wave, -wave]), 16000))


def test_float_samples_at_the_bound_and_full_scale_pcm_pass():
    wave = noise(1600)
    wave[800] = -MAX_AMPLITUDE
    assert load_audio((wave, 16000))[0][800] == -MAX_AMPLITUDE
    for dtype in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16):
        pcm = np.full(1600, np.iinfo(dtype).max, dtype)
        assert load_audio((pcm, 16000))[0].max() == pytest.approx(1.0, abs=1e-2)


def test_sixteen_khz_float32_arrays_are_not_copied():
    wave = noise(16000)
    out, _ = load_audio((wave, 16000))
    assert out.data_ptr() == wave.ctypes.data  # the same memory: no conversion, no resampling


def test_virtual_arrays_of_any_size_are_refused_before_they_are_touched():
    """Zero-stride views of a trillion samples cost nothing to hold and everything to copy."""
    for raw in [
        (np.broadcast_to(np.float32(0.1), (10**12,)), 16000),
        (torch.zeros(1).expand(10**12), 16000),
        (np.broadcast_to(np.float32(0.1), (2, 10**12)), 16000),
    ]:
        with pytest.raises(InputError, match="is 62500000.00 s long"):
            load_audio(raw)
    with pytest.raises(InputError, match="has 50000 channels; expected at most 8"):
        load_audio((np.broadcast_to(np.float32(0.1), (50000, 50000)), 16000))


def test_a_long_list_is_refused_by_its_length_before_it_is_converted():
    ragged = [0.0] * (31 * 16000) + [[1.0]]  # np.asarray would fail on it: never called
    with pytest.raises(InputError, match=r"array is 31.00 s long"):
        load_audio((ragged, 16000), max_seconds=30)
    with pytest.raises(InputError, match="array of type list is not an array of numbers"):
        load_audio((ragged[-1600:], 16000), max_seconds=30)
