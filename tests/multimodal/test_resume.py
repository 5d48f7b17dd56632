"""A run killed with SIGKILL at a random step after its first checkpoint and started again with
the same command reproduces the uninterrupted run's per-step training loss exactly (CPU, float32).
"""

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

MM_TRAIN = Path(sys.executable).parent / "mm-train"
COMMON = [
    "threads=1",
    "save_every_n_steps=3",
    "trainer.log_every_n_steps=1",
    "+loggers.csv.flush_logs_every_n_steps=1",
    "~loggers.tensorboard",
    "~callbacks.progress",
    "+trainer.enable_progress_bar=false",
    "model.backbone.d_model=32",
    "model.backbone.n_layers=1",
]


def losses(run: Path) -> dict[int, str]:
    """Step -> train_loss as logged, over every CSV version of the run; a step run again after a
    resume keeps its last value. Values are compared as written, so equality is bit for bit."""
    found = {}
    for path in sorted(
        (run / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:])
    ):
        with open(path) as f:
            for row in csv.DictReader(f):
                if row.get("train_loss"):
                    found[int(row["step"])] = row["train_loss"]
    return found


RANK_WEIGHTS = """
import pytorch_lightning as pl, torch

class RankWeights(pl.Callback):
    def __init__(self, folder):
        self.folder = folder

    def on_train_end(self, trainer, pl_module):
        torch.save(pl_module.model.state_dict(), f"{self.folder}/rank{trainer.global_rank}.pt")
"""


def mm_train(run: Path, args: list[str], cwd: Path) -> subprocess.Popen:
    (cwd / "rank_weights.py").write_text(RANK_WEIGHTS)  # a user's own callback, by config
    return subprocess.Popen(
        [MM_TRAIN, *args, *COMMON, f"hydra.run.dir={run}"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a kill reaches every process of the run (DDP ranks too)
    )


def finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]


def kill_after_first_checkpoint(run: Path, proc: subprocess.Popen, steps: int, seed: int) -> int:
    """SIGKILL the run once it logged a random step past its first checkpoint; that step."""
    stop = random.Random(seed).randrange(4, steps // 2)  # room to be killed before the end
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "checkpoints" / "last.ckpt").is_file() and max(losses(run), default=-1) >= stop:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return stop
        time.sleep(0.05)
    pytest.fail(f"the run ended or stalled before step {stop}")


def interrupted_equals_uninterrupted(args: list[str], steps: int, tmp_path: Path, seed: int):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    finish(mm_train(whole, args, tmp_path))
    killed_at = kill_after_first_checkpoint(broken, mm_train(broken, args, tmp_path), steps, seed)
    saved = torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 3 <= saved < steps, f"killed at step {killed_at}, last.ckpt holds step {saved}"
    finish(mm_train(broken, args, tmp_path))  # the same command: continues from last.ckpt
    expected, got = losses(whole), losses(broken)
    assert len(expected) == steps
    # Lightning logs a step after its batch-end hooks, where last.ckpt is written: a kill between
    # the two loses that one step's row (the step itself is in the checkpoint and not run again).
    assert set(expected) - set(got) <= {saved - 1}, f"rows lost; last.ckpt holds step {saved}"
    assert got == {step: loss for step, loss in expected.items() if step in got}
    return whole, broken


def test_language_model_resumes_exactly(corpus_root, rank_file, tmp_path):
    args = [
        "experiment=shakespeare",
        f"data_root={corpus_root}",
        f"model.tokenizers.text.vocab={rank_file}",
        "model.context_length=32",
        "data.block_size=32",
        "data.batch_size=8",
        "trainer.max_steps=30",  # more than an epoch of the small corpus: resumes cross epochs
        "trainer.val_check_interval=10",
        "trainer.limit_val_batches=2",
        "~callbacks.samples",
        "~callbacks.loss_curve",
    ]
    interrupted_equals_uninterrupted(args, 30, tmp_path, seed=0)


def test_multitask_run_resumes_exactly(demo_root, rank_file, tmp_path):
    args = [
        "experiment=multitask_demo",
        f"data_root={demo_root}",
        f"model.tokenizers.text.vocab={rank_file}",
        "model.context_length=64",
        "model.tokenizers.audio.max_seconds=0.5",
        "tasks.lm.data.block_size=32",
        "tasks.same.data.pairs_per_clip=4",
        "tasks.transcribe.task.max_new_tokens=4",
        "model.tokenizers.image.augment=[{_target_:torchvision.transforms.v2.RandomAffine,degrees:10}]",
        "mix_batch_size=20",
        "trainer.max_steps=24",
        "trainer.val_check_interval=8",
        "trainer.limit_val_batches=1",
        "~callbacks.loss_curve",
    ]
    interrupted_equals_uninterrupted(args, 24, tmp_path, seed=1)


def test_ddp_resumes_exactly_and_ranks_agree(corpus_root, rank_file, tmp_path):
    args = [
        "experiment=shakespeare",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        f"data_root={corpus_root}",
        f"model.tokenizers.text.vocab={rank_file}",
        "model.context_length=32",
        "data.block_size=32",
        "data.batch_size=4",
        "trainer.max_steps=16",
        "trainer.val_check_interval=null",
        "trainer.limit_val_batches=2",
        "~callbacks.samples",
        "~callbacks.loss_curve",
        "+callbacks.rank_weights._target_=rank_weights.RankWeights",
        "+callbacks.rank_weights.folder=${run_dir}",
    ]
    whole, broken = interrupted_equals_uninterrupted(args, 16, tmp_path, seed=2)
    for run in (whole, broken):
        ranks = [torch.load(run / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
        assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    a, b = (torch.load(run / "rank0.pt", weights_only=True) for run in (whole, broken))
    assert all(torch.equal(a[k], b[k]) for k in a)
