"""trainer=ddp runs two CPU processes (gloo) through the console script, as users run it; the
run reports once, with validation figures of the whole set (test_rank_symmetry.py: more)."""

import subprocess
import sys
from pathlib import Path

import torch


def test_ddp_on_cpu_with_two_processes(corpus_root, rank_file, tmp_path):
    run = tmp_path / "run"
    script = Path(sys.executable).parent / "mm-train"
    out = subprocess.run(
        [
            script,
            "experiment=shakespeare",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            f"data_root={corpus_root}",
            f"hydra.run.dir={run}",
            f"model.tokenizers.text.vocab={rank_file}",
            "model.backbone.d_model=32",
            "model.backbone.n_layers=1",
            "model.context_length=32",
            "data.block_size=32",
            "data.batch_size=4",
            "trainer.max_steps=6",
            "trainer.val_check_interval=3",
            "trainer.limit_val_batches=2",
            "~callbacks.samples",
            "~callbacks.progress",
            "+trainer.enable_progress_bar=false",
            "~loggers.tensorboard",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = out.stderr + out.stdout
    assert out.returncode == 0, out.stderr[-3000:]
    assert "distributed_backend=gloo" in log
    assert "All distributed processes registered. Starting with 2 processes" in log
    # validation figures are the whole set's on every process, and reported once
    assert "sync_dist" not in log
    assert log.count("--- val_loss by step ---") == 1
    assert log.count("'lm/val_loss'") == 1  # mm-train's summary line
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6
