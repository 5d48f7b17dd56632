"""Shared helpers for benchmarks: timing ours against a peer, the result record, and the
FLOPs and peak FLOP/s that model FLOPs utilization (MFU) divides.

A benchmark script `bench/bench_<what>.py` exposes `run() -> list[dict]`, each dict made by
`record`. Ours and the peer run in the same process on the same inputs, alternately, and each
side's figure is the median of several runs after warm-up (`measure`).
"""

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

FIELDS = (
    "name",
    "ours",
    "peer",
    "peer_name",
    "unit",
    "higher_is_better",
    "ratio",
    "config",
    "device",
    "torch",
)


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work, so wall-clock time covers it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    ours: Callable[[], object],
    peer: Callable[[], object],
    repeats: int = 7,
    warmup: int = 2,
    device: str | torch.device = "cpu",
) -> tuple[float, float]:
    """Median seconds per call of `ours` and of `peer`, calls alternating (ours first)."""
    for _ in range(warmup):
        ours()
        peer()
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    for _ in range(repeats):
        for side, fn in (("ours", ours), ("peer", peer)):
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[side].append(time.perf_counter() - start)
    return statistics.median(times["ours"]), statistics.median(times["peer"])


def device_name(device: str | torch.device = "cpu") -> str:
    """A readable name of the machine part that ran the benchmark."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def ratio(ours: float, peer: float, higher_is_better: bool) -> float:
    """Ours over peer, oriented so that above 1 means ours is better."""
    return ours / peer if higher_is_better else peer / ours


def record(
    name: str,
    ours: float,
    peer: float,
    peer_name: str,
    unit: str,
    higher_is_better: bool,
    config: dict | None = None,
    device: str | torch.device = "cpu",
) -> dict:
    """One result in the format `bench/run.py` writes to `bench/results/latest.json`."""
    return {
        "name": name,
        "ours": float(ours),
        "peer": float(peer),
        "peer_name": peer_name,
        "unit": unit,
        "higher_is_better": bool(higher_is_better),
        "ratio": ratio(float(ours), float(peer), higher_is_better),
        "config": dict(config or {}),
        "device": device_name(device),
        "torch": torch.__version__,
    }


PEAK_BF16_TFLOPS = (  # dense bf16 tensor-core peak by device name; the first match wins
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("A100", 312.0),
)


def peak_flops(device: str | torch.device, tflops: float | None = None) -> float | None:
    """Peak FLOP/s of `device`: `tflops` when given, else `PEAK_BF16_TFLOPS` for a GPU it
    names, else None (unknown)."""
    if tflops is not None:
        return float(tflops) * 1e12
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for part, peak in PEAK_BF16_TFLOPS:
            if part in name:
                return peak * 1e12
    return None


def lm_flops_per_token(n_params: int, n_layers: int, d_model: int, seq_len: int) -> float:
    """Training FLOPs (forward and backward) per token of a transformer LM, as nanoGPT's
    `estimate_mfu` counts them: 6 N for the weights' matrix products, and 12 L D T for
    attention's scores and mixing (q k^T and weights v, over T keys in each of L layers)."""
    return 6.0 * n_params + 12.0 * n_layers * d_model * seq_len
