"""Resampling: torchaudio's numbers at any rate pair, at a cost bounded whatever the ratio."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import torchaudio

from multimodal.tokenizers.resample import (
    MAX_KERNEL,
    SincResampler,
    kernel_size,
    polyphase,
    resampler,
)


def sine(rate: int, seconds: float, freq: float) -> torch.Tensor:
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (0.5 * torch.sin(2 * math.pi * freq * t)).float()


@pytest.mark.parametrize(
    "orig, new",
    [(44100, 16000), (22050, 16000), (11025, 16000), (8000, 16000), (48000, 16000),
     (384000, 16000), (1000, 16000), (1001, 2000), (2000, 1001)],
)  # fmt: skip
def test_sinc_resampler_gives_torchaudio_numbers(orig, new):
    """Same kernel, same length: equal to torchaudio computing in float64 (closer than its own
    float32 convolution, off by up to 6e-5), also for coprime rates (1001 <-> 2000) whose
    torchaudio kernel is still affordable here."""
    x = torch.randn(2, int(0.7 * orig), generator=torch.Generator().manual_seed(orig)) * 0.3
    exact = torchaudio.transforms.Resample(orig, new, dtype=torch.float64)(x.double())  # (2, M)
    ours = SincResampler(orig, new)(x)
    assert ours.shape == exact.shape == (2, math.ceil(x.shape[1] * new / orig))
    assert (ours - exact).abs().max() < 1e-6
    assert torch.equal(SincResampler(orig, new)(x[1]), ours[1])  # (N,) as one row of (B, N)


@pytest.mark.parametrize(
    "orig, neighbour",
    [(1001, 1000), (8001, 8000), (44101, 44100), (383999, 384000), (15999, None), (16001, None)],
)
def test_awkward_rates_land_on_the_analytic_sine(orig, neighbour):
    """A sine sampled at an awkward rate, resampled to 16 kHz, against the sine computed at
    16 kHz: off by the kernel's passband ripple only, as much as torchaudio is at the
    neighbouring cheap rate."""
    freq = 0.3 * min(orig, 16000)  # well inside both bands
    expected = sine(16000, 1.0, freq)
    inner = slice(200, -200)  # away from the zero-padded edges

    def error(rate):
        out = resampler(rate, 16000)(sine(rate, 1.0, freq))
        assert out.shape == expected.shape
        return (out - expected)[inner].abs().max().item()

    assert isinstance(resampler(orig, 16000), SincResampler)
    assert error(orig) < 2.5e-3  # of an amplitude of 0.5
    if neighbour is not None:
        assert error(orig) == pytest.approx(error(neighbour), abs=1e-4)


def test_only_small_polyphase_kernels_are_built_and_cached():
    for orig in (44100, 22050, 11025, 8000, 48000, 384000, 383875):  # 383875: 430,464 numbers
        assert kernel_size(orig, 16000) <= MAX_KERNEL
        assert resampler(orig, 16000) is polyphase(orig, 16000)
        assert polyphase(orig, 16000).kernel.numel() == kernel_size(orig, 16000)
    before = polyphase.cache_info().currsize
    for orig in (1001, 8001, 15999, 16001, 44101, 383999):
        assert kernel_size(orig, 16000) > MAX_KERNEL  # 8001 -> 16000: 128 million numbers
        assert isinstance(resampler(orig, 16000), SincResampler)
    assert polyphase.cache_info().currsize == before
    assert polyphase.cache_info().maxsize * MAX_KERNEL * 4 <= 32 * 2**20


CHILD = """
import json, resource, sys, time
import numpy as np, torch
from multimodal.tokenizers.audio_io import load_audio
rate = int(sys.argv[1])
load_audio((np.zeros(rate, np.float32), rate))  # warm up: first-call allocations either way
wave = np.random.default_rng(0).standard_normal(30 * rate, dtype=np.float32)
wave *= 0.1
start = time.perf_counter()
out, _ = load_audio((wave, rate), 16000, max_seconds=30)
seconds = time.perf_counter() - start
assert out.shape == (480000,)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
print(json.dumps({"seconds": seconds, "peak_mb": peak / 2**20}))
"""


def cost(rate: int) -> dict:
    """Time and peak memory of loading a 30 s clip at `rate`, in a fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(rate)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def at_16k():
    return cost(16000)


@pytest.mark.parametrize("rate", [8001, 16001, 383875, 383999])
def test_a_30_s_clip_at_the_worst_rates_costs_little_more_than_at_16k(at_16k, rate):
    """383999 Hz: the most taps per output on the gathered path; 383875 Hz: the largest kernel
    on the polyphase path; 8001 and 16001 Hz cost gigabytes with torchaudio's kernel."""
    other = cost(rate)
    assert other["peak_mb"] - at_16k["peak_mb"] < 200
    assert other["seconds"] - at_16k["seconds"] < 5  # about 0.5 s at worst; a shared machine
