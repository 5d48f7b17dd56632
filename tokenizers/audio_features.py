"""Log-mel features as Whisper computes them: `torch.stft` and torchaudio's mel filterbank.

Defaults are Whisper's: 16 kHz, 80 mels, n_fft 400 (25 ms window), hop 160 (10 ms), Hann
window, centered frames with reflect padding, power spectrum, Slaney mel filterbank (librosa's,
which Whisper ships), the last frame dropped, then log10 clamped at 1e-10, floored at 8 below
the clip's maximum and scaled as `(x + 4) / 4`. A clip of N samples gives N // hop frames.

Shapes: N samples, M mels, F frames.
"""

import torch
import torchaudio
from torch import Tensor


class LogMel:
    """Waveform (N,) or (B, N) at `sample_rate` -> log-mel (M, F) or (B, M, F), each clip floored
    at its own maximum.

    A plain object, not an `nn.Module`: it holds no parameters and stays on the CPU, where
    `prepare()` runs, whatever device the model moves to. The power spectrum is re^2 + im^2
    of the complex STFT (several times faster than squaring its absolute value).
    """

    def __init__(
        self, sample_rate: int = 16000, n_mels: int = 80, n_fft: int = 400, hop_length: int = 160
    ):
        self.sample_rate, self.n_mels, self.n_fft, self.hop_length = (
            sample_rate,
            n_mels,
            n_fft,
            hop_length,
        )
        self.window = torch.hann_window(n_fft)  # periodic, as torch.stft and Whisper use
        self.filters = torchaudio.functional.melscale_fbanks(
            n_fft // 2 + 1,
            f_min=0.0,
            f_max=sample_rate / 2,
            n_mels=n_mels,
            sample_rate=sample_rate,
            norm="slaney",
            mel_scale="slaney",
        ).T.contiguous()  # (M, n_fft / 2 + 1)

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.hop_length

    @torch.no_grad()
    def __call__(self, wave: Tensor) -> Tensor:
        spec = torch.stft(
            wave, self.n_fft, self.hop_length, window=self.window, return_complex=True
        )  # (..., n_fft/2+1, F+1): centered frames, reflect padding
        spec = spec[..., :-1]  # Whisper drops the last frame
        power = torch.addcmul(spec.real.square(), spec.imag, spec.imag)  # |spec|^2, no sqrt
        mel = self.filters @ power  # (..., M, F)
        log = mel.clamp_(min=1e-10).log10_()
        floor = log.amax(dim=(-2, -1), keepdim=True) - 8.0
        return torch.maximum(log, floor).add_(4.0).div_(4.0)
