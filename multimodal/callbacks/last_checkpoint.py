"""`LastCheckpoint`: `last.ckpt` always holds the latest step a run reached."""

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn


class LastCheckpoint(pl.Callback):
    """Writes `<dirpath>/last.ckpt` every `every_n_steps` training steps (None: not between
    validations), after every validation, and when training ends. A run resumes from it
    (`ckpt_path=last`, or a run started again in the same folder).

    Lightning's checkpoint IO here is `AtomicCheckpointIO`, so a kill during a write leaves the
    previous `last.ckpt` whole.
    """

    def __init__(self, dirpath: str, every_n_steps: int | None = None):
        if every_n_steps is not None and (isinstance(every_n_steps, bool) or every_n_steps < 1):
            raise ValueError(f"save_every_n_steps must be a positive number, got {every_n_steps}")
        self.path = Path(dirpath) / "last.ckpt"
        self.every_n_steps = every_n_steps
        self.saved_step = -1

    def save(self, trainer: pl.Trainer) -> None:
        """Every process calls this (saving is collective); the step is written once."""
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        if trainer.global_step != self.saved_step:
            trainer.save_checkpoint(self.path)
            self.saved_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self.save(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        """Training stopped between saves (max_steps, max_time): its final step too."""
        self.save(trainer)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        """A run resumed from a finished epoch starts the next epoch at its first batch.

        Lightning (2.6) keeps the finished epoch's batch count when `max_steps` is set, so the
        next epoch would end at once, losing an epoch of training per resume.
        """
        loop = checkpoint.get("loops", {}).get("fit_loop", {})
        epochs, batches = loop.get("epoch_progress"), loop.get("epoch_loop.batch_progress")
        if epochs and batches and epochs["current"]["completed"] == epochs["current"]["ready"]:
            batches["current"] = {key: 0 for key in batches["current"]}
            batches["is_last_batch"] = False
