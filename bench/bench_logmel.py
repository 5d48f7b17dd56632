"""Log-mel feature extraction: our `LogMel` against openai-whisper's `log_mel_spectrogram`.

Both sides turn the same 30 s, 16 kHz waveforms (Whisper's window length) into 80-bin log-mel
features, in the same process, alternating; the unit is clips per second (higher is better).
Whisper's `audio.py` is loaded without `whisper/__init__.py`, which would need numba.
"""

import importlib.util
import sys
import types

import torch
from common import measure, record

from multimodal.tokenizers.audio_features import LogMel

CLIPS, SECONDS, RATE = 8, 30, 16000
PEER = "openai-whisper log_mel_spectrogram"


def whisper_audio():
    """`whisper.audio`; raises ModuleNotFoundError when openai-whisper is absent."""
    if "whisper" not in sys.modules:
        spec = importlib.util.find_spec("whisper")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("No module named 'whisper'", name="whisper")
        package = types.ModuleType("whisper")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec  # so find_spec("whisper") still answers elsewhere
        sys.modules["whisper"] = package
    import whisper.audio

    return whisper.audio


def clips(n: int = CLIPS) -> list[torch.Tensor]:
    """Speech-like 30 s waveforms: gliding tones in noise."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(SECONDS * RATE) / RATE
    return [
        0.2 * torch.sin(2 * torch.pi * (150 + 40 * i + 30 * torch.sin(t)) * t)
        + 0.02 * torch.randn(t.shape, generator=g)
        for i in range(n)
    ]


def run() -> list[dict]:
    peer = whisper_audio().log_mel_spectrogram
    ours = LogMel()
    waves = clips()
    assert (ours(waves[0]) - peer(waves[0])).abs().max() < 1e-4  # same features first
    t_ours, t_peer = measure(
        lambda: [ours(w) for w in waves], lambda: [peer(w) for w in waves], repeats=15
    )
    config = {"clips": CLIPS, "seconds": SECONDS, "n_mels": 80, "threads": torch.get_num_threads()}
    return [record("logmel_30s", CLIPS / t_ours, CLIPS / t_peer, PEER, "clips/s", True, config)]


if __name__ == "__main__":
    for r in run():
        print(r)
