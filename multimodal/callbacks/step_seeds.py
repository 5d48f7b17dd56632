"""`StepSeeds`: each training step's randomness is a function of the run's seed and the step."""

import random

import numpy as np
import pytorch_lightning as pl
import torch

from multimodal.data.resumable import sample_seed


class StepSeeds(pl.Callback):
    """Seeds torch, numpy and `random` before every training step from (seed, rank, step).

    Whatever draws random numbers inside a step (dropout, sampling in a task) then draws the same
    numbers in a run resumed from a checkpoint as in the run that was not interrupted, with no
    generator state to save. Data randomness has its own seeds (`multimodal.data.resumable`).
    """

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx: int) -> None:
        step_seed = sample_seed(self.seed, trainer.global_rank, 0, trainer.global_step)
        torch.manual_seed(step_seed)
        np.random.seed(step_seed % 2**32)
        random.seed(step_seed)
