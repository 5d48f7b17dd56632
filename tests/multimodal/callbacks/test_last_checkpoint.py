"""last.ckpt holds the latest step, resuming from a finished epoch loses none, and a checkpoint
file is whole or absent whenever the write is interrupted."""

import pytest
import torch

from multimodal.atomic_checkpoint_io import AtomicCheckpointIO
from multimodal.errors import InputError
from multimodal.train import train


def step_of(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def test_resume_from_a_finished_epoch_with_max_steps_set_loses_no_epoch(lm_config, tmp_path):
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    train(lm_config("trainer.max_epochs=1", "trainer.max_steps=999"))
    one_epoch = step_of(last)
    resume = ("trainer.max_epochs=3", "trainer.max_steps=999", f"ckpt_path={last}")
    train(lm_config(*resume))
    assert step_of(last) == 3 * one_epoch


def test_last_checkpoint_holds_the_final_step_between_validations(lm_config, tmp_path):
    train(lm_config("trainer.max_epochs=-1", "trainer.max_steps=7"))
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


@pytest.mark.parametrize(
    "override, match",
    [
        ("ckpt_path=last", "ckpt_path=last, but run folder .* has no checkpoints/last.ckpt"),
        ("save_every_n_steps=0", "save_every_n_steps must be a positive number, got 0"),
        ("ckpt_path=https://example.com/last.ckpt", "local"),
    ],
)
def test_bad_resume_settings_are_named(lm_config, override, match):
    with pytest.raises(InputError, match=match):
        train(lm_config(override))
