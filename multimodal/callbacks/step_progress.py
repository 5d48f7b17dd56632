"""`StepProgressBar`: one bar over the whole run's steps, with its ETA, when max_steps is set."""

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import _update_n


class StepProgressBar(TQDMProgressBar):
    """Lightning's bar counts each epoch's batches; a run bounded by `trainer.max_steps` is shown
    as global steps out of max_steps instead, so the ETA is the whole run's (a resumed run starts
    at its step). Without max_steps it is Lightning's bar."""

    def on_train_epoch_start(self, trainer: pl.Trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        if trainer.max_steps > 0:
            bar = self.train_progress_bar
            bar.reset(total=trainer.max_steps)
            bar.initial = bar.n = trainer.global_step
            bar.set_description(f"Step (epoch {trainer.current_epoch})")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.max_steps <= 0:
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        step, bar = trainer.global_step, self.train_progress_bar
        if bar is not None and self._should_update(step, trainer.max_steps):
            _update_n(bar, step)
            bar.set_postfix(self.get_metrics(trainer, pl_module))
