"""Benchmark helpers and runner: record format, ratio orientation, alternating timing, --only."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_script_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common, runner = load("common"), load("run")


def test_record_has_the_documented_fields_and_orients_the_ratio():
    fast = common.record("x", 200.0, 100.0, "peer", "items/s", True, {"n": 1})
    assert tuple(fast) == common.FIELDS
    assert fast["ratio"] == 2.0 and fast["torch"] == torch.__version__
    assert fast["device"].startswith("cpu")
    slow = common.record("y", 3.0, 1.5, "peer", "ms", False)
    assert slow["ratio"] == 0.5 and slow["config"] == {}
    json.dumps([fast, slow])  # plain JSON


def test_measure_alternates_and_takes_medians():
    calls = []
    ours_s, peer_s = common.measure(
        lambda: calls.append("o"), lambda: calls.append("p"), repeats=3, warmup=1
    )
    assert calls == ["o", "p"] * 4
    assert 0 <= ours_s < 0.1 and 0 <= peer_s < 0.1


def test_runner_runs_scripts_by_path_and_filters(tmp_path, capsys):
    (tmp_path / "bench_alpha.py").write_text(
        "from common import record\n"
        "def run():\n"
        "    return [record('alpha', 2.0, 1.0, 'peer', 'x/s', True)]\n"
    )
    (tmp_path / "bench_beta.py").write_text("def run():\n    raise RuntimeError('broken')\n")
    (tmp_path / "bench_gamma.py").write_text("import not_an_installed_peer\n")
    paths = runner.scripts(None, tmp_path)
    assert [p.name for p in paths] == ["bench_alpha.py", "bench_beta.py", "bench_gamma.py"]
    assert runner.scripts("alpha", tmp_path) == [tmp_path / "bench_alpha.py"]
    with pytest.raises(SystemExit, match="no benchmark named"):
        runner.scripts("delta", tmp_path)
    records, failed = runner.run_all(paths)
    assert [r["name"] for r in records] == ["alpha"] and failed == ["bench_beta.py"]
    assert "skipped: No module named 'not_an_installed_peer'" in capsys.readouterr().err
    table = runner.table(records)
    assert "alpha" in table and "2.000" in table


def test_every_benchmark_script_exposes_run():
    for path in sorted(BENCH.glob("bench_*.py")):
        assert "\ndef run(" in path.read_text(), path.name
