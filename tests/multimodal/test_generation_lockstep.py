"""generate(lockstep=True) in two gloo processes whose every block forward is a collective (a
checking hook, or FSDP2's gathering of the block's weights): the process that ends first keeps
running forwards until the other ends, so neither waits forever, and each still returns what
it generates alone."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from multimodal.generation import any_process

WORKER = Path(__file__).parent / "two_process_generation.py"


def run_two(tmp_path: Path, lockstep: bool, shardings: str, timeout: float = 90) -> list:
    """Starts both processes and waits; [(return code, stderr, results or None)] by rank."""
    init, outs = tmp_path / "init", [tmp_path / f"rank{r}.json" for r in (0, 1)]
    flag = "1" if lockstep else "0"
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, str(r), init, outs[r], flag, shardings],
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
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
    (code0, err0, rank0), (code1, err1, rank1) = run_two(tmp_path, True, "checked,fsdp2")
    assert code0 == 0 and code1 == 0, err0[-2000:] + err1[-2000:]
    for sharding in ("checked", "fsdp2"):
        together0, alone0 = rank0[sharding]["together"], rank0[sharding]["alone"]
        together1, alone1 = rank1[sharding]["together"], rank1[sharding]["alone"]
        for case in together0:
            where = f"{sharding}, {case}"
            # the same tokens as alone: the forwards of the process that ended first are idle
            assert together0[case]["tokens"] == alone0[case]["tokens"], where
            assert together1[case]["tokens"] == alone1[case]["tokens"], where
            # together, both ran the longer one's forwards; alone, rank 0 needs fewer
            assert together0[case]["forwards"] == together1[case]["forwards"], where
            assert together1[case]["forwards"] == alone1[case]["forwards"], where
            assert alone0[case]["forwards"] < alone1[case]["forwards"], where
    alone0, alone1 = rank0["checked"]["alone"], rank1["checked"]["alone"]
    assert alone0["stop token"]["tokens"] == [[]]  # ended at its first token
    assert [len(t) for t in alone1["stop token"]["tokens"]] == [6, 6]
    assert [len(t) for t in alone0["max_new_tokens"]["tokens"]] == [2]
    assert [len(t) for t in alone1["max_new_tokens"]["tokens"]] == [7, 7]


def test_without_lockstep_the_process_that_ends_first_breaks_the_collectives(tmp_path):
    """What the previous test guards against: without agreement rank 0 leaves decoding early and
    its next forward meets rank 1's decoding step."""
    (code0, err0, _), (code1, err1, _) = run_two(tmp_path, False, "checked")
    assert code0 != 0 and code1 != 0
    assert "processes at different (case, forward)" in err0 + err1


def test_one_process_needs_no_collective():
    """Outside a distributed run the flag is returned as it is (no process group exists)."""
    assert any_process(True, "cpu") is True
    assert any_process(False, "cpu") is False
