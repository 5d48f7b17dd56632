"""`MultimodalModule`: one LightningModule that trains a dict of tasks on one shared model."""

from collections.abc import Callable, Mapping
from functools import partial

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.tensor import DTensor
from torchmetrics import MeanMetric

from multimodal.batch import Batch
from multimodal.data.bad_samples import BadSamples
from multimodal.data.multitask import MultiTaskDataModule
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.tasks.schedule import warmup_cosine
from multimodal.tasks.task import Task

Optimizer = torch.optim.Optimizer


def all_processes(items: list, world_size: int) -> list:
    """`items` of every process, concatenated in rank order (a collective when distributed)."""
    if world_size == 1 or not dist.is_initialized():
        return list(items)
    parts = [None] * world_size
    dist.all_gather_object(parts, items)
    return [item for part in parts for item in part]


def local(p: Tensor) -> Tensor:
    """A parameter's own shard when it is sharded (a DTensor under FSDP2), else itself."""
    return p.to_local() if isinstance(p, DTensor) else p


class MultimodalModule(pl.LightningModule):
    """Trains `tasks` on `model`: each batch's `targets` keys name the tasks it feeds.

    A batch is a `Batch` or a dict of them (Lightning's `CombinedLoader`); the loss is the
    weighted sum of each task's loss. Each task logs `<task>/<stage>_loss` and its metrics;
    `val_loss` and `test_loss` are the weighted sums of the tasks' epoch means. An epoch mean
    covers every process's batches, each weighted by its samples, so every process (and the
    checkpoint monitor) sees the whole split's figure; a process short of a batch repeats its
    first ones (`SeededBatches`), which then count twice. `config` (a plain dict) is stored in
    every checkpoint under "config", so `multimodal.checkpoint.load_model` can rebuild the
    model alone.

    Samples that the data skipped as bad (`Batch.skipped`) are counted here, in the training
    process, on every step, and summed over processes: `bad_samples` is the run's record (the
    data's setup scan too), refreshed when training and testing end, and stored in every
    checkpoint under "bad_samples" (`BadSamples.as_dict`). A batch whose samples were all bad
    trains nothing; a step in which no process trained anything leaves the weights as they were.

    Args:
        model: the shared model with its tokenizers and heads.
        tasks: task name -> task.
        optimizer: parameter groups -> optimizer (`conf/optim/`, a partial); the group of 1-D
            parameters (biases, norms) gets no weight decay. Default: AdamW, lr 1e-3.
        scheduler: (optimizer, total optimizer steps) -> LR scheduler stepped every step
            (`conf/scheduler/`, a partial). Default: warm-up, then cosine decay.
        loss_weights: task name -> weight (default 1).
        config: resolved run config stored in checkpoints.
    """

    def __init__(
        self,
        model: MultimodalModel,
        tasks: Mapping[str, Task],
        optimizer: Callable[..., Optimizer] | None = None,
        scheduler: Callable[[Optimizer, int], object] | None = None,
        loss_weights: Mapping[str, float] | None = None,
        config: dict | None = None,
    ):
        super().__init__()
        self.model = model
        self.tasks = nn.ModuleDict(tasks)
        self.optimizer = optimizer or partial(
            torch.optim.AdamW, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95)
        )
        self.scheduler = scheduler or warmup_cosine
        self.loss_weights = dict(loss_weights or {})
        unknown = set(self.loss_weights) - set(self.tasks)
        if unknown:
            raise InputError(f"loss_weights name tasks {sorted(unknown)} that are not trained")
        self.config = config or {}
        self.mean_loss = nn.ModuleDict(  # "<stage>_<task>" -> loss averaged over the epoch
            {f"{stage}_{name}": MeanMetric() for stage in ("val", "test") for name in tasks}
        )
        self.skipped_here: list[tuple[str, str]] = []  # (stage, reason) met by this process
        self.skipped_before: list[tuple[str, str]] = []  # restored: all processes, until then
        self.bad_samples = BadSamples("skip")  # the run's record, see `gather_bad_samples`
        self.trained_samples = 0  # this process's samples since the last optimizer step

    def shared_step(self, batch: Batch | Mapping[str, Batch], stage: str) -> Tensor:
        batches = batch.values() if isinstance(batch, Mapping) else [batch]
        total, samples, emptied = 0.0, 0, False
        for b in batches:
            if b is None:  # an exhausted loader inside a CombinedLoader
                continue
            self.skipped_here += [(stage, reason) for reason in b.skipped]
            if b.shape[0] == 0:  # every sample of this batch was bad
                emptied = True
                continue
            samples += b.shape[0]
            for name in b.targets:
                if name not in self.tasks:
                    raise InputError(
                        f"a batch holds targets of task {name!r}, which is not trained"
                    )
                loss = self.tasks[name].step(self.model, b, stage)
                if stage == "train":
                    self.step_losses[name] = loss.detach()
                    self.log(f"{name}/train_loss", loss, batch_size=b.shape[0])
                else:
                    self.mean_loss[f"{stage}_{name}"].update(loss.detach(), b.shape[0])
                total = total + self.loss_weights.get(name, 1.0) * loss
        if stage == "train":
            self.trained_samples += samples
            if emptied:
                # A batch lost all its samples, so its task's head gets no loss this step. A zero
                # loss through every trainable parameter still gives each one a gradient: DDP's
                # all-reduce then sees all of them, and no process waits for another forever.
                trainable = [p for p in self.parameters() if p.requires_grad]
                total = total + 0.0 * sum(local(p).sum() for p in trainable)
            if samples:
                self.log("train_loss", total, prog_bar=True)
        return total

    def on_before_optimizer_step(self, optimizer) -> None:
        """Before the weights change: stop on a non-finite loss of any process, and skip the
        update of a step in which no process trained on anything."""
        losses = list(self.step_losses.values())
        bad_here = bool(losses) and not bool(torch.isfinite(torch.stack(losses)).all())
        trained, bad = self.trained_samples, float(bad_here)
        self.trained_samples = 0
        if self.trainer.world_size > 1:  # every process calls this at every optimizer step
            counts = torch.tensor([float(trained), bad], device=self.device)
            trained, bad = self.trainer.strategy.reduce(counts, reduce_op="sum").tolist()
        if bad:
            raise InputError(self.bad_loss(bad_here))
        if trained == 0:
            # No process trained on any sample in this step: without gradients AdamW leaves the
            # weights and its moments as they were (zero gradients would still move them by
            # momentum and weight decay). The step still counts for max_steps and the schedule.
            optimizer.zero_grad(set_to_none=True)

    def bad_loss(self, here: bool) -> str:
        """The sentence that stops a run whose loss is not finite; the weights are unchanged, and
        the last checkpoint written before this step stays in place."""
        where = f"training step {self.global_step} (epoch {self.current_epoch}, batch {self.step_batch})"
        if not here:
            return f"{where}: another process's loss is not finite; training stopped"
        bad = {k: float(v) for k, v in self.step_losses.items() if not torch.isfinite(v)}
        tasks = ", ".join(f"task {k!r} loss {v}" for k, v in bad.items())
        return f"{where}: {tasks} is not finite; training stopped, the last checkpoint is kept"

    def setup_skips(self) -> list[tuple[str, str]]:
        """(stage, reason) of the samples the data left out when it was read: the same on every
        process."""
        data = self.trainer.datamodule
        return data.setup_skips() if isinstance(data, MultiTaskDataModule) else []

    def gather_bad_samples(self) -> BadSamples:
        """Every sample skipped so far: the data's setup scan, then those met in batches by all
        processes. A collective when distributed: every process calls it."""
        record = BadSamples("skip")
        record.add(self.setup_skips())
        record.add(self.skipped_before)
        record.add(all_processes(self.skipped_here, self.trainer.world_size))
        self.bad_samples = record
        return record

    def on_train_end(self) -> None:
        self.gather_bad_samples()

    def on_test_end(self) -> None:
        self.gather_bad_samples()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Samples skipped in batches before the checkpoint count on (the setup scan is redone)."""
        reasons = checkpoint.get("bad_samples", {}).get("reasons", [])
        self.skipped_before = [(stage, reason) for stage, reason in reasons if stage != "setup"]

    def training_step(self, batch, batch_idx):
        self.step_losses: dict[str, Tensor] = {}  # task -> this step's loss, checked before update
        self.step_batch = batch_idx
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
                # every process's batches, each weighted by its samples: the same on all of them
                loss = mean.compute()
                self.log(f"{name}/{stage}_loss", loss, sync_dist=True)
                total = self.loss_weights.get(name, 1.0) * loss + (0 if total is None else total)
            mean.reset()
        if total is not None:
            self.log(f"{stage}_loss", total, prog_bar=True, sync_dist=True)
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
        optimizer = self.optimizer([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}])
        schedule = self.scheduler(optimizer, max(1, int(self.trainer.estimated_stepping_batches)))
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
        checkpoint["bad_samples"] = self.gather_bad_samples().as_dict()
