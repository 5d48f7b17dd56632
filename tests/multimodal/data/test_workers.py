"""Data needs no model: every datamodule of the five-task demo (text, image folder, captions,
speech, pairs, and the multi-task one over them), built from the config alone, gives the same
batches through 2 workers started by "spawn" or "forkserver" as in the main process. Those start
methods pickle the datasets and collate functions into fresh processes; no parameter may go
with them."""

import dataclasses
import multiprocessing
from itertools import islice
from multiprocessing.reduction import ForkingPickler

import pytest
import torch
from hydra import compose, initialize_config_module

from multimodal.model import MultimodalModel
from multimodal.tokenizer import Tokenizer
from multimodal.train import build_tasks

STEPS = 2  # training steps, each a batch of every task
WORKER_MODULES = ["multimodal.train", "multimodal.tasks.classification", "multimodal.data.pairs"]


@pytest.fixture
def demo_config(demo_root, rank_file, tmp_path):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=multitask_demo",
                f"data_root={demo_root}",
                f"run_dir={tmp_path / 'run'}",
                f"model.tokenizers.text.vocab={rank_file}",
                "model.backbone.d_model=16",
                "model.context_length=64",
                "model.tokenizers.audio.max_seconds=0.5",
                "tasks.lm.data.block_size=32",
                "tasks.same.data.pairs_per_clip=2",
                "mix_batch_size=20",
            ],
        )


def refuse(*args, **kwargs):
    raise AssertionError("the data built or pickled a model part")


@pytest.fixture
def no_model(monkeypatch):
    """Building a model or a tokenizer module, or pickling a parameter for a worker, fails."""
    monkeypatch.setattr(MultimodalModel, "__init__", refuse)
    monkeypatch.setattr(Tokenizer, "__init__", refuse)
    monkeypatch.setitem(ForkingPickler._extra_reducers, torch.nn.Parameter, refuse)


def training_steps(cfg, workers: int, method: str | None) -> list[dict]:
    for job in cfg.tasks.values():  # the data config's keys
        job.data.num_workers, job.data.multiprocessing_context = workers, method
    _, data, _ = build_tasks(cfg)
    data.setup("fit")
    loaders = data.train_dataloader()
    for loader in loaders.flattened:
        assert loader.num_workers == workers
        context = loader.multiprocessing_context
        assert (context and context.get_start_method()) == method
    return [step for step, _, _ in islice(loaders, STEPS)]


def assert_same(a, b, where: str) -> None:
    """Equal tensors, containers and dataclasses (batches), all the way down."""
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_every_datamodule_gives_the_same_batches_in_started_workers(
    demo_config, no_model, method, tmp_path, monkeypatch
):
    """Forkserver workers fork from a server that imported the project once, so they start
    fast; spawned ones start a fresh interpreter each (about 5 s of CPU for ten of them).
    They start in another folder: a started interpreter puts its working folder on sys.path,
    and in the repository folder `tokenizers/` would hide Hugging Face's package (see README)."""
    monkeypatch.chdir(tmp_path)
    multiprocessing.get_context("forkserver").set_forkserver_preload(WORKER_MODULES)
    reference = training_steps(demo_config, 0, None)
    assert len(reference) == STEPS
    assert set(reference[0]) == {"lm", "digit", "caption", "transcribe", "same"}
    assert_same(training_steps(demo_config, 2, method), reference, method)
