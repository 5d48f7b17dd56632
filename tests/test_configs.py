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


@pytest.mark.parametrize("preset", ["cpu", "ddp"])
def test_cpu_trainers_build(preset):
    trainer = instantiate(compose_train(f"trainer={preset}", "trainer.accelerator=cpu").trainer)
    assert trainer.num_devices == (2 if preset == "ddp" else 1)


def test_fsdp_strategy_builds():
    from pytorch_lightning.strategies import FSDPStrategy

    strategy = instantiate(compose_train("trainer=fsdp").trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_trainer_builds():
    assert instantiate(compose_train("trainer=gpu").trainer).precision == "bf16-mixed"
