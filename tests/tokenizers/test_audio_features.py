"""Log-mel features against openai-whisper's `log_mel_spectrogram`: a stored reference, and live."""

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from multimodal.tokenizers.audio_features import LogMel
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOLERANCE = 1e-4  # absolute, on features that span about [-1.5, 1.5]


def whisper_audio():
    """`whisper.audio` loaded without `whisper/__init__` (which needs numba); None if absent."""
    if "whisper" not in sys.modules:  # a bare package object: only audio.py and utils.py load
        spec = importlib.util.find_spec("whisper")
        if spec is None or not spec.submodule_search_locations:
            return None
        package = types.ModuleType("whisper")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec  # so find_spec("whisper") still answers elsewhere
        sys.modules["whisper"] = package
    import whisper.audio

    return whisper.audio


def test_features_match_whisper_reference_values():
    segment = AudioPreprocessor().prepare(FIXTURES / "three_one_four.wav")
    reference = torch.from_numpy(np.load(FIXTURES / "three_one_four.whisper_mel.npy"))
    assert segment.data.shape == reference.shape == (80, 100)
    assert (segment.data - reference).abs().max() < TOLERANCE


@pytest.mark.parametrize("seconds", [0.03, 1.0, 2.37, 30.0])
def test_features_match_live_whisper(seconds):
    audio = whisper_audio()
    if audio is None:
        pytest.skip("openai-whisper is not installed")
    g = torch.Generator().manual_seed(int(seconds * 100))
    n = int(seconds * 16000)
    t = torch.arange(n) / 16000
    wave = 0.3 * torch.sin(2 * torch.pi * (200 + 900 * t) * t) + 0.05 * torch.randn(n, generator=g)
    ours = LogMel()(wave)
    theirs = audio.log_mel_spectrogram(wave)
    assert ours.shape == theirs.shape == (80, n // 160)
    assert (ours - theirs).abs().max() < TOLERANCE


def test_file_path_reads_the_same_samples_whisper_was_given():
    samples, rate = sf.read(FIXTURES / "three_one_four.wav", dtype="float32")
    from_array = AudioPreprocessor().prepare((samples, rate)).data
    from_file = AudioPreprocessor().prepare(str(FIXTURES / "three_one_four.wav")).data
    assert torch.equal(from_array, from_file)


@pytest.mark.parametrize("n", [400, 401, 559, 560, 16000, 16159])
def test_one_frame_per_hop_after_dropping_the_last(n):
    mel = LogMel()(torch.randn(n))
    assert mel.shape == (80, n // 160) and LogMel().num_frames(n) == n // 160


def test_floor_is_eight_below_the_clip_maximum_and_scaled():
    wave = torch.zeros(16000)
    wave[8000] = 1.0  # one click: most frames are silent and sit on the floor
    mel = LogMel()(wave)
    assert torch.isclose(mel.min(), mel.max() - 2.0)  # 8 in log10 units, divided by 4


def test_power_overflows_float32_beyond_the_amplitude_bound_but_not_within_it():
    """Why `audio_io` refuses float samples beyond MAX_AMPLITUDE: at 1e20 the power spectrum
    is inf and the features NaN; at the bound, DC or full-scale noise, they stay finite."""
    from multimodal.tokenizers.audio_io import MAX_AMPLITUDE

    assert not torch.isfinite(LogMel()(torch.full((16000,), 1e20))).all()
    g = torch.Generator().manual_seed(0)
    for wave in (
        torch.full((16000,), MAX_AMPLITUDE),
        MAX_AMPLITUDE * torch.randn(16000, generator=g).sign(),
    ):
        assert torch.isfinite(LogMel()(wave)).all()


def test_the_tokenizer_refuses_non_finite_features(monkeypatch):
    """The last line of defence: were the amplitude bound lifted, 1e20 still gives no NaN."""
    from multimodal.errors import InputError
    from multimodal.tokenizers import audio_io

    monkeypatch.setattr(audio_io, "MAX_AMPLITUDE", float("inf"))
    wave = np.full(16000, 1e20, np.float32)
    with pytest.raises(InputError, match="array gives non-finite log-mel features"):
        AudioPreprocessor().prepare((wave, 16000))
