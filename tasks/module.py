"""`MultimodalModule`: one LightningModule that trains a dict of tasks on one shared model."""

import math
from collections.abc import Mapping

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.tasks.task import Task


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """LR multiplier: linear warm-up over `warmup` steps, then cosine decay to `min_ratio`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class MultimodalModule(pl.LightningModule):
    """Trains `tasks` on `model`: each batch's `targets` keys name the tasks it feeds.

    A batch is a `Batch` or a dict of them (Lightning's `CombinedLoader`); the loss is the
    weighted sum of each task's loss. Each task logs `<task>/<stage>_loss` and its metrics;
    `val_loss` and `test_loss` are the weighted sums of the tasks' epoch means. `config` (a
    plain dict) is stored in every checkpoint under "config", so
    `multimodal.checkpoint.load_model` can rebuild the model alone.

    Args:
        model: the shared model with its tokenizers and heads.
        tasks: task name -> task.
        lr, weight_decay, betas: AdamW settings (no decay on biases, norms, embeddings' 1D params).
        warmup_steps: linear LR warm-up; then cosine decay to `min_lr_ratio * lr`.
        loss_weights: task name -> weight (default 1).
        config: resolved run config stored in checkpoints.
    """

    def __init__(
        self,
        model: MultimodalModel,
        tasks: Mapping[str, Task],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.95),
        warmup_steps: int = 100,
        min_lr_ratio: float = 0.1,
        loss_weights: Mapping[str, float] | None = None,
        config: dict | None = None,
    ):
        super().__init__()
        self.model = model
        self.tasks = nn.ModuleDict(tasks)
        self.lr, self.weight_decay, self.betas = lr, weight_decay, tuple(betas)
        self.warmup_steps, self.min_lr_ratio = warmup_steps, min_lr_ratio
        self.loss_weights = dict(loss_weights or {})
        unknown = set(self.loss_weights) - set(self.tasks)
        if unknown:
            raise InputError(f"loss_weights name tasks {sorted(unknown)} that are not trained")
        self.config = config or {}
        self.mean_loss = nn.ModuleDict(  # "<stage>_<task>" -> loss averaged over the epoch
            {f"{stage}_{name}": MeanMetric() for stage in ("val", "test") for name in tasks}
        )

    def shared_step(self, batch: Batch | Mapping[str, Batch], stage: str) -> Tensor:
        batches = batch.values() if isinstance(batch, Mapping) else [batch]
        total = 0.0
        for b in batches:
            if b is None:  # an exhausted loader inside a CombinedLoader
                continue
            for name in b.targets:
                if name not in self.tasks:
                    raise InputError(
                        f"a batch holds targets of task {name!r}, which is not trained"
                    )
                loss = self.tasks[name].step(self.model, b, stage)
                if stage == "train":
                    self.log(f"{name}/train_loss", loss, batch_size=b.shape[0])
                else:
                    self.mean_loss[f"{stage}_{name}"].update(loss.detach(), b.shape[0])
                total = total + self.loss_weights.get(name, 1.0) * loss
        if stage == "train":
            self.log("train_loss", total, prog_bar=True)
        return total

    def training_step(self, batch, batch_idx):
        return self.shared_step(batch, "train")

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.shared_step(batch, "val")

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.shared_step(batch, "test")

    def _log_metrics(self, stage: str) -> None:
        total = None
        for name in self.tasks:
            mean = self.mean_loss[f"{stage}_{name}"]
            if mean.update_count:
                loss = mean.compute()  # synced across processes
                self.log(f"{name}/{stage}_loss", loss)
                total = self.loss_weights.get(name, 1.0) * loss + (0 if total is None else total)
            mean.reset()
        if total is not None:
            self.log(f"{stage}_loss", total, prog_bar=True)
        for task in self.tasks.values():
            metrics = task.metrics[stage]
            if any(m.update_count for m in metrics.values()):
                self.log_dict(
                    {k: v for k, v in metrics.compute().items() if v.numel() == 1},
                    sync_dist=True,
                )
            metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def configure_optimizers(self):
        params = {id(p): p for p in self.model.parameters() if p.requires_grad}.values()
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.lr,
            betas=self.betas,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(self.warmup_steps, max(1, total // 10))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: warmup_cosine(s, warmup, total, self.min_lr_ratio)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        config = dict(self.config)
        if "model" in config:  # make tokenizers rebuildable without outside files (vocabularies)
            model_cfg = dict(config["model"])
            toks = dict(model_cfg.get("tokenizers", {}))
            for name, tok in self.model.tokenizers.items():
                if name in toks:
                    toks[name] = {**toks[name], **tok.portable_config()}
            model_cfg["tokenizers"] = toks
            config["model"] = model_cfg
        checkpoint["config"] = config
