"""A language model trained on streaming text windows, stopped mid-epoch after a checkpoint and
started again with the same command, reproduces the uninterrupted run's per-step training loss
exactly (CPU, float32, two DataLoader workers): Lightning saves and restores litdata's loader
position as it does `ResumableLoader`'s."""

import csv
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from multimodal.data.optimize import Output
from multimodal.data.optimize_text import optimize_text
from multimodal.train import train

TEXT = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
)
STOP = """
import pytorch_lightning as pl


class StopAt(pl.Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise RuntimeError(f"stopped at step {self.step}")
"""
STEPS = 12  # 3 batches an epoch (4, 4 and 1 windows): the resumed run crosses epochs


def losses(run: Path) -> dict[int, str]:
    """Step -> train_loss as logged, over every CSV version of the run (a step run again after
    the resume keeps its last value), compared as written: bit for bit."""
    found = {}
    for path in sorted((run / "csv").glob("version_*/metrics.csv"), key=lambda p: p.parent.name):
        with open(path) as f:
            found |= {int(r["step"]): r["train_loss"] for r in csv.DictReader(f) if r["train_loss"]}
    return found


def config(run: Path, shards: Path, rank_file: Path, *overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=shakespeare",
                "data=streaming_text",
                f"data.root={shards}",
                "data.num_workers=2",
                "data.batch_size=4",
                f"run_dir={run}",
                f"model.tokenizers.text.vocab={rank_file}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=1",
                "model.context_length=32",
                "data.block_size=32",
                f"trainer.max_steps={STEPS}",
                "trainer.val_check_interval=null",
                "trainer.limit_val_batches=1",
                "trainer.log_every_n_steps=1",
                "save_every_n_steps=4",
                "threads=1",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "~callbacks.samples",
                "~callbacks.loss_curve",
                "loggers=[csv]",
                "+loggers.csv.flush_logs_every_n_steps=1",
                *overrides,
            ],
        )


def test_a_stopped_streaming_run_resumes_exactly(rank_file, tmp_path, monkeypatch):
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "play.txt").write_text(TEXT * 3)
    shards = tmp_path / "shards"
    assert "train 9, val 1 samples" in optimize_text(
        Output(str(shards)), tmp_path / "text", rank_file, 32
    )
    (tmp_path / "stop_at.py").write_text(STOP)  # a user's callback, by config
    monkeypatch.syspath_prepend(str(tmp_path))
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    train(config(whole, shards, rank_file))
    stop = ["+callbacks.stop._target_=stop_at.StopAt", "+callbacks.stop.step=6"]
    with pytest.raises(RuntimeError, match="stopped at step 6"):
        train(config(broken, shards, rank_file, *stop))
    saved = torch.load(broken / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 4  # inside the second epoch
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["num_samples_yielded"]
    train(config(broken, shards, rank_file))  # the same command: continues from last.ckpt
    expected = losses(whole)
    assert len(expected) == STEPS
    assert losses(broken) == expected
