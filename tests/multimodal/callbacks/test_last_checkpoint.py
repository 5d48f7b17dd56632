"""last.ckpt holds the latest step, resuming from a finished epoch loses none, and a checkpoint
file is whole or absent whenever the write is interrupted."""

import pytest
import torch
from hydra import compose, initialize_config_module

from multimodal.atomic_checkpoint_io import AtomicCheckpointIO
from multimodal.train import train


def config(root, rank_file, tmp_path, *overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=shakespeare",
                f"data_root={root}",
                f"run_dir={tmp_path / 'run'}",
                f"model.tokenizers.text.vocab={rank_file}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=1",
                "model.context_length=64",
                "data.block_size=64",
                "data.batch_size=8",
                "trainer.val_check_interval=null",
                "trainer.limit_val_batches=1",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "~callbacks.samples",
                "~callbacks.loss_curve",
                "~loggers.tensorboard",
                *overrides,
            ],
        )


def step_of(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def test_resume_from_a_finished_epoch_with_max_steps_set_loses_no_epoch(
    corpus_root, rank_file, tmp_path
):
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    train(config(corpus_root, rank_file, tmp_path, "trainer.max_epochs=1", "trainer.max_steps=999"))
    one_epoch = step_of(last)
    resume = ("trainer.max_epochs=3", "trainer.max_steps=999", f"ckpt_path={last}")
    train(config(corpus_root, rank_file, tmp_path, *resume))
    assert step_of(last) == 3 * one_epoch


def test_last_checkpoint_holds_the_final_step_between_validations(corpus_root, rank_file, tmp_path):
    train(config(corpus_root, rank_file, tmp_path, "trainer.max_epochs=-1", "trainer.max_steps=7"))
    assert step_of(tmp_path / "run" / "checkpoints" / "last.ckpt") == 7


def test_interrupted_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1}, target)

    def dies_halfway(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # what a kill during the write looks like to the file

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"global_step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no partial file left
