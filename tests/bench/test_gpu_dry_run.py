"""bench/gpu.py: its dry run reports every path on CPU, and its FLOPs, peak and mask helpers."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from multimodal.attention_kernels import sdpa, softmax

BENCH = Path(__file__).resolve().parents[2] / "bench"
PRESETS, FORMS = ("small", "base"), ("sdpa-causal", "sdpa-dense", "softmax")
ROWS = [f"lm_train[{p},{f},eager]" for p in PRESETS for f in FORMS] + [
    "lm_generate[small]",
    "lm_generate[base]",
    "lm_train_padded[small]",
    "lm_train_packed[small]",
    "vit_tiny_train",
]


def load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_script_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_reports_every_path_with_positive_figures(tmp_path):
    """In a fresh interpreter started outside the repository, as a user runs it."""
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "gpu.py"), "--dry-run", "--skip-compile"]
        + ["--peak-tflops", "0.1", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PEAK_TFLOPS": ""},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = json.loads(out.read_text())
    assert sorted(r["name"] for r in records) == sorted(ROWS)
    for r in records:
        assert r["ours"] > 0 and r["peer"] > 0 and r["ratio"] > 0, r
        assert r["device"].startswith("cpu") and r["unit"] in ("tokens/s", "images/s")
    for r in [r for r in records if r["name"].startswith("lm_train[")]:
        assert 0 < r["config"]["mfu"] < 1 and r["config"]["flops_per_token"] > 0, r
    text = done.stdout
    assert "DRY RUN on cpu" in text and "NOT GPU figures" in text
    assert "compile: skipped (--skip-compile)" in text
    assert "lm_train_packed_flex: GPU only (FlexAttention has no backward on CPU)" in text
    assert "MFU against a peak of 0.1 TFLOP/s" in text
    for name in ROWS:
        assert name in text


@pytest.mark.parametrize(
    "args, env, match",
    [
        (["--peak-tflops", "0"], "", "got '0'"),
        (["--peak-tflops", "fast"], "", "got 'fast'"),
        (["--peak-tflops", "inf"], "", "got 'inf'"),
        ([], "-3", r"also read from \$PEAK_TFLOPS\), got '-3'"),
        (["--presets", "huge"], "", "--presets 'huge': expected names among"),
        (["--presets", ","], "", "--presets ',': expected names among"),
    ],
)
def test_bad_options_are_named_before_anything_runs(monkeypatch, capsys, args, env, match):
    gpu = load("gpu")
    monkeypatch.setenv("PEAK_TFLOPS", env)
    with pytest.raises(SystemExit) as stop:
        gpu.main(["--dry-run", *args])
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert re.search(match, err), err
    assert "DRY RUN" not in out


def test_flops_per_token_is_nanogpts_count():
    common = load("common")
    # GPT-2 124M in nanoGPT: 123,653,376 parameters without the position table, 12 x 768, T 1024
    assert common.lm_flops_per_token(123_653_376, 12, 768, 1024) == 855_166_464
    assert common.lm_flops_per_token(10, 2, 4, 8) == 6 * 10 + 12 * 2 * 4 * 8


@pytest.mark.parametrize(
    "name, tflops",
    [
        ("NVIDIA H200", 989.0),
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("Tesla T4", None),
    ],
)
def test_peak_flops_by_gpu_name(monkeypatch, name, tflops):
    common = load("common")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    peak = common.peak_flops("cuda")
    assert peak == (None if tflops is None else tflops * 1e12)
    assert common.peak_flops("cuda", 2.5) == 2.5e12  # given, it wins
    assert common.peak_flops("cpu") is None


def test_dense_mask_form_equals_the_causal_flag():
    dense_mask = load("gpu_rows").dense_mask
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 2, 5, 4).unbind(0)  # (B, H, T, hd) each
    for kernel in (sdpa, softmax):
        flag, _ = kernel(q, k, v, None, True, 0.0)
        dense, _ = dense_mask(kernel)(q, k, v, None, True, 0.0)
        torch.testing.assert_close(dense, flag)
    mask = torch.rand(2, 1, 5, 5) > 0.5
    mask[..., 0] = True  # every query sees a key
    given, _ = dense_mask(sdpa)(q, k, v, mask, False, 0.0)
    torch.testing.assert_close(given, sdpa(q, k, v, mask, False, 0.0)[0])  # a mask passes
