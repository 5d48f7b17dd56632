"""Resampling between whole-number rates with torchaudio's windowed-sinc kernel, at a cost that
does not grow with the rates' reduced ratio.

torchaudio's `Resample` is polyphase: with g = gcd(orig, new), it builds one kernel of
(new / g) x (orig / g + 2 w) numbers and runs it as a strided convolution. That is tiny for
44100 -> 16000 (160 x 475) but 16000 x 8015 for 8001 -> 16000, which takes gigabytes and tens of
seconds to build. Rate pairs whose kernel has at most `MAX_KERNEL` numbers use it, cached (so
common rates give exactly what they always gave); the others use `SincResampler`: the same
kernel function, tabulated once per output phase and gathered output by output, which costs
O(M x T) with T = 2 w taps, w = ceil(6 orig / (0.99 min(orig, new))), whatever the ratio.

Shapes: N input samples, M = ceil(N new / orig) output samples, P = new / g output phases,
T taps, C outputs in a chunk.
"""

import math
from collections.abc import Callable
from functools import lru_cache

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor

LOWPASS_WIDTH = 6  # zero crossings of the sinc on each side (torchaudio's default)
ROLLOFF = 0.99  # cutoff as a fraction of the lower Nyquist frequency (torchaudio's default)
MAX_KERNEL = 2**19  # numbers in a polyphase kernel worth building and caching (2 MiB)
CHUNK = 2**20  # gathered taps per step of `SincResampler`: 4 MiB per temporary


def half_width(orig: int, new: int) -> int:
    """Input samples the kernel reaches on each side of an output (torchaudio's `width`)."""
    g = math.gcd(orig, new)
    return math.ceil(LOWPASS_WIDTH * (orig // g) / (min(orig, new) // g * ROLLOFF))


def kernel_size(orig: int, new: int) -> int:
    """Numbers in torchaudio's polyphase kernel for `orig` -> `new`."""
    g = math.gcd(orig, new)
    return new // g * (orig // g + 2 * half_width(orig, new))


@lru_cache(maxsize=16)  # at most 16 x MAX_KERNEL numbers: 32 MiB
def polyphase(orig: int, new: int) -> torchaudio.transforms.Resample:
    """torchaudio's resampler for a pair whose kernel is small, built once."""
    return torchaudio.transforms.Resample(orig, new)


class SincResampler:
    """torchaudio's sinc-Hann resampling (same kernel, same output length), output by output.

    Output j sits at input position j orig / new = s + p / P (s whole, phase p < P); it is the
    sum over the T = 2 w input samples s - w + 1 .. s + w, weighted by row p of a (P, T) table.
    Memory: the table (P x T floats, at most 16000 x 292 from 384 kHz to 16 kHz), a padded copy
    of the input and a chunk of gathered taps.
    """

    def __init__(self, orig: int, new: int):
        g = math.gcd(orig, new)
        self.orig, self.new = orig // g, new // g
        self.width = w = half_width(orig, new)
        cutoff = min(self.orig, self.new) * ROLLOFF / self.orig  # in cycles per 2 input samples
        phases = torch.arange(self.new, dtype=torch.float64)[:, None] / self.new  # (P, 1)
        u = torch.arange(1 - w, w + 1, dtype=torch.float64) - phases  # (P, T) tap - position
        u.mul_(cutoff).clamp_(-LOWPASS_WIDTH, LOWPASS_WIDTH)
        window = (u * (math.pi / 2 / LOWPASS_WIDTH)).cos_().square_()  # Hann, as torchaudio
        self.table = u.sinc_().mul_(window).mul_(cutoff).float()  # (P, T)

    def __call__(self, wave: Tensor) -> Tensor:
        """(..., N) -> (..., M)."""
        n = wave.shape[-1]
        m = -(-n * self.new // self.orig)  # ceil, as torchaudio
        w = self.width
        windows = F.pad(wave, (w, w)).unfold(-1, 2 * w, 1)  # (..., N + 1, T), a view
        out = wave.new_empty(*wave.shape[:-1], m)  # (..., M)
        step = max(1, CHUNK // (2 * w))
        for start in range(0, m, step):
            position = torch.arange(start, min(start + step, m)) * self.orig  # (C,) in 1 / P
            taps = windows[..., position // self.new + 1, :]  # (..., C, T): s - w + 1 .. s + w
            weights = self.table[position % self.new]  # (C, T)
            out[..., start : start + len(position)] = taps.mul_(weights).sum(-1)
        return out


def resampler(orig: int, new: int) -> Callable[[Tensor], Tensor]:
    """A callable taking (..., N) at `orig` Hz to (..., M) at `new` Hz."""
    if kernel_size(orig, new) <= MAX_KERNEL:
        return polyphase(orig, new)
    return SincResampler(orig, new)
