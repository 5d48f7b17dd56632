"""generate(lockstep=True) in two gloo processes whose every block forward is a collective, as a
sharded model's is: the process that ends first keeps running forwards until the other ends, so
neither waits forever, and each still returns what it generates alone."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import multimodal
from multimodal.generation import any_process

WORKER = Path(__file__).parent / "two_process_generation.py"


def run_two(tmp_path: Path, lockstep: bool, timeout: float = 90) -> list:
    """Starts both processes and waits; [(return code, stderr, results or None)] by rank."""
    init, outs = tmp_path / "init", [tmp_path / f"rank{r}.json" for r in (0, 1)]
    flag = "1" if lockstep else "0"
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, str(r), init, outs[r], flag],
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(multimodal.__file__).parents[1],
        )
        for r in (0, 1)
    ]
    try:
        errors = [p.communicate(timeout=timeout)[1] for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail(f"the two processes did not end within {timeout} s: one waits for the other")
    return [
        (p.returncode, err, json.loads(out.read_text()) if out.exists() else None)
        for p, err, out in zip(procs, errors, outs)
    ]


def test_processes_ending_at_different_steps_run_as_many_forwards(tmp_path):
    (code0, err0, rank0), (code1, err1, rank1) = run_two(tmp_path, lockstep=True)
    assert code0 == 0 and code1 == 0, err0[-2000:] + err1[-2000:]
    for case in rank0["together"]:
        # the same tokens as alone: the extra forwards of the process that ended first are idle
        assert rank0["together"][case]["tokens"] == rank0["alone"][case]["tokens"], case
        assert rank1["together"][case]["tokens"] == rank1["alone"][case]["tokens"], case
        # together, both ran the longer one's forwards; alone, rank 0 needs fewer
        assert rank0["together"][case]["forwards"] == rank1["alone"][case]["forwards"], case
        assert rank1["together"][case]["forwards"] == rank1["alone"][case]["forwards"], case
        assert rank0["alone"][case]["forwards"] < rank1["alone"][case]["forwards"], case
    assert rank0["alone"]["stop token"]["tokens"] == [[]]  # ended at its first token
    assert [len(t) for t in rank1["alone"]["stop token"]["tokens"]] == [6, 6]
    assert [len(t) for t in rank0["alone"]["max_new_tokens"]["tokens"]] == [2]
    assert [len(t) for t in rank1["alone"]["max_new_tokens"]["tokens"]] == [7, 7]


def test_without_lockstep_the_process_that_ends_first_breaks_the_collectives(tmp_path):
    """What the previous test guards against: without agreement rank 0 leaves decoding early and
    its next forward meets rank 1's decoding step."""
    (code0, err0, _), (code1, err1, _) = run_two(tmp_path, lockstep=False)
    assert code0 != 0 and code1 != 0
    assert "processes at different (case, forward)" in err0 + err1


def test_one_process_needs_no_collective():
    """Outside a distributed run the flag is returned as it is (no process group exists)."""
    assert any_process(True, "cpu") is True
    assert any_process(False, "cpu") is False
