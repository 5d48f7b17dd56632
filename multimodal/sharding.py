"""`FullyShardStrategy`: fully sharded data parallel (FSDP2, `fully_shard`) over every process.

Each process holds 1/N of every parameter, gradient and optimizer moment. A shard unit gathers
its whole parameters just before its forward (and its backward) and frees them after; here a
unit is every module of the classes `units` names (the transformer's blocks, then the
`MultimodalModel` around them, whose unit holds the tokenizers and heads). On CPUs the
processes talk through gloo (`trainer=fsdp_cpu`). With `save_distributed_checkpoint: false` a
checkpoint is one full file written by rank 0, laid out as a single process's, so
`multimodal.load`, `mm-infer` and a resume (`ckpt_path`) read it unchanged.
"""

from collections.abc import Sequence

import pytorch_lightning as pl
from pytorch_lightning.strategies import ModelParallelStrategy, Strategy
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import FSDPModule, fully_shard
from typing_extensions import override

from multimodal.errors import InputError


def shard(module: nn.Module, units: tuple[type, ...], mesh: DeviceMesh) -> None:
    """Makes every submodule of `module` that is one of `units` a shard unit over `mesh`, the
    innermost first (a unit holds the parameters its inner units do not). Units made before
    (a fit, then a test) stay as they are."""
    chosen = [m for m in reversed(list(module.modules())) if isinstance(m, units)]
    if not chosen:
        names = [f"{u.__module__}.{u.__qualname__}" for u in units]
        raise InputError(f"config key trainer.strategy.units: the model has no {names} module")
    for m in chosen:
        if not isinstance(m, FSDPModule):
            fully_shard(m, mesh=mesh)


class FullyShardStrategy(ModelParallelStrategy):
    """Lightning's `ModelParallelStrategy` with data parallelism only, over every process, and
    the sharding plan given here instead of in a `configure_model` hook.

    Args:
        units: classes whose modules each become a shard unit; the outermost one must be
            called through its `forward` (FSDP2 gathers parameters in forward hooks).
        kwargs: `ModelParallelStrategy`'s (`save_distributed_checkpoint`, `process_group_backend`).
    """

    def __init__(self, units: Sequence[type], **kwargs):
        super().__init__(tensor_parallel_size=1, **kwargs)
        for i, unit in enumerate(units):
            if not (isinstance(unit, type) and issubclass(unit, nn.Module)):
                raise InputError(
                    f"config key trainer.strategy.units[{i}] is {unit!r}; expected a module class"
                )
        self.units = tuple(units)

    @override
    def setup_environment(self) -> None:
        self._data_parallel_size = self.num_nodes * self.num_processes
        super().setup_environment()

    @override
    def setup(self, trainer: "pl.Trainer") -> None:
        # Strategy.setup, whose `_setup_model` shards; ModelParallelStrategy.setup asks the
        # LightningModule for a `configure_model` hook instead.
        Strategy.setup(self, trainer)

    @override
    def _setup_model(self, model: nn.Module) -> nn.Module:
        shard(model, self.units, self.device_mesh["data_parallel"])
        return model
