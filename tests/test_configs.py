"""Every config group composes, and what it names can be built."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from multimodal.checkpoint import build_model
from multimodal.model import MultimodalModel

CONF = Path(__file__).resolve().parents[1] / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_train(*overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose("train", ["run_dir=/tmp/unused", *overrides])


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_builds_its_model(experiment, rank_file):
    cfg = compose_train(f"experiment={experiment}")
    if "text" in cfg.model.tokenizers:
        cfg.model.tokenizers.text.vocab = str(rank_file)
    model = build_model(cfg.model)
    assert isinstance(model, MultimodalModel)
    assert set(model.tokenizers) == set(cfg.model.tokenizers)
    jobs = cfg.tasks.values() if cfg.tasks else [cfg]  # multi-task: a task and data per entry
    assert all(job.task._target_ and job.data._target_ for job in jobs)


@pytest.mark.parametrize("size", options("model"))
def test_every_model_size_composes(size):
    cfg = compose_train(f"model={size}")
    backbone = cfg.model.backbone
    assert (
        backbone.d_model % backbone.n_heads == 0 and (backbone.d_model // backbone.n_heads) % 2 == 0
    )


@pytest.mark.parametrize("preset", ["cpu", "ddp", "fsdp_cpu"])
def test_cpu_trainers_build(preset):
    trainer = instantiate(compose_train(f"trainer={preset}", "trainer.accelerator=cpu").trainer)
    assert trainer.num_devices == (1 if preset == "cpu" else 2)


def test_fsdp_strategy_builds():
    from pytorch_lightning.strategies import FSDPStrategy

    strategy = instantiate(compose_train("trainer=fsdp").trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_trainer_builds():
    assert instantiate(compose_train("trainer=gpu").trainer).precision == "bf16-mixed"


@pytest.mark.parametrize("name", options("optim"))
def test_every_optimizer_builds_on_parameter_groups(name):
    params = [torch.nn.Parameter(torch.zeros(2, 2)), torch.nn.Parameter(torch.zeros(2))]
    make = instantiate(compose_train(f"optim={name}").optim)
    optimizer = make([{"params": params[:1]}, {"params": params[1:], "weight_decay": 0.0}])
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert [g["weight_decay"] for g in optimizer.param_groups][1] == 0.0


@pytest.mark.parametrize("name", options("scheduler"))
def test_every_scheduler_warms_up_and_ends_at_its_floor(name):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    cfg = compose_train(f"scheduler={name}", "scheduler.warmup_steps=10")
    schedule = instantiate(cfg.scheduler)(optimizer, 1000)
    lrs = []
    for _ in range(1000):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(cfg.scheduler.get("min_lr_ratio", 1.0), abs=1e-3)


def test_callbacks_and_loggers_are_chosen_by_name():
    cfg = compose_train("loggers=[csv]", "callbacks=[last,progress]")
    assert list(cfg.loggers) == ["csv"] and list(cfg.callbacks) == ["last", "progress"]
    default = compose_train()
    assert list(default.loggers) == ["csv", "tensorboard"]
    assert set(default.callbacks) == {"checkpoint", "last", "step_seeds", "lr_monitor", "progress"}
