"""LossCurve: one point per validation, with the value that validation logged."""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from multimodal.callbacks.loss_curve import LossCurve, render_curve


class EpochEndLogger(pl.LightningModule):
    """Logs `val_loss` in its own `on_validation_epoch_end`, as `MultimodalModule` does."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.logged = []

    def training_step(self, batch, i):
        return (self.w - 1).pow(2).sum()

    def validation_step(self, batch, i):
        pass

    def on_validation_epoch_end(self):
        value = float(self.global_step) / 10
        self.logged.append((self.global_step, value))
        self.log("val_loss", value)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_each_validation_gives_the_point_it_logged(tmp_path):
    loader = DataLoader(TensorDataset(torch.zeros(8, 1)), batch_size=1)
    module, curve = EpochEndLogger(), LossCurve("val_loss")
    trainer = pl.Trainer(
        max_steps=6,
        val_check_interval=2,
        num_sanity_val_steps=1,
        callbacks=[curve],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, loader, loader)
    logged = module.logged[1:]  # the sanity check is not a point
    assert [step for step, _ in curve.points] == [step for step, _ in logged] == [2, 4, 6]
    assert [v for _, v in curve.points] == pytest.approx([v for _, v in logged])


def test_render_curve_scales_bars_between_the_extremes():
    lines = render_curve([(100, 3.0), (200, 2.0), (300, 1.0)], width=10).splitlines()
    assert [line.count("#") for line in lines] == [10, 5, 1]
    assert lines[0].split()[:2] == ["100", "3.0000"]
    assert render_curve([]) == "(no validation ran)"
