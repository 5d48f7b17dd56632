"""`LastCheckpoint`: `last.ckpt` always holds the latest step a run reached."""

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    """Writes `<dirpath>/last.ckpt` every `every_n_steps` training steps (None: never between
    validations), after every validation, and when training ends. A resumed run starts from it
    (`ckpt_path=last`, or a run started again in the same folder).

    Files are written atomically by `AtomicCheckpointIO`, so a kill during a write leaves the
    previous `last.ckpt` whole.
    """

    def __init__(self, dirpath: str, every_n_steps: int | None = None):
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"save_every_n_steps must be a positive number, got {every_n_steps}")
        super().__init__(
            dirpath=dirpath,
            save_top_k=0,
            save_last=True,
            every_n_train_steps=every_n_steps or 0,
            every_n_epochs=1,
            enable_version_counter=False,
            save_on_train_epoch_end=False,
        )

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        """A run resumed from a finished epoch starts the next epoch at its first batch.

        Lightning (2.6) keeps the finished epoch's batch count when `max_steps` is set, so the
        next epoch would end at once, losing an epoch of training per resume.
        """
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
        loop = checkpoint.get("loops", {}).get("fit_loop", {})
        epochs, batches = loop.get("epoch_progress"), loop.get("epoch_loop.batch_progress")
        if epochs and batches and epochs["current"]["completed"] == epochs["current"]["ready"]:
            batches["current"] = {key: 0 for key in batches["current"]}
            batches["is_last_batch"] = False

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Training stopped between saves (max_steps, max_time): save its final step too."""
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
