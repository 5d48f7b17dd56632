"""`train(cfg)`: build everything a composed config names, fit, test, return the metrics.

`mm-train` (multimodal/cli/train.py) only composes the config and calls this, so tests call
`train` with configs from Hydra's `compose`.
"""

import json
from pathlib import Path

import pytorch_lightning as pl
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from multimodal.checkpoint import local_checkpoint
from multimodal.config import validate
from multimodal.data.multitask import MultiTaskDataModule
from multimodal.errors import InputError
from multimodal.tasks.module import MultimodalModule
from multimodal.threads import use_threads
from multimodal.transfer import adopt_source_config, freeze, load_matching


def build(cfg: DictConfig, key: str, **kwargs):
    """Instantiate `cfg[key]` (a dotted key); a failure names the key and keeps our own
    error's sentence."""
    try:
        if key == "model":
            return instantiate(cfg.model, _convert_="all")
        return instantiate(OmegaConf.select(cfg, key), **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, InputError):
            raise cause from None
        first = str(cause or e).splitlines()[0]
        raise InputError(f"config key {key} could not be built: {first}") from None


def build_all(cfg: DictConfig, group: str) -> list:
    """Instantiate every entry of a dict of configs (callbacks, loggers); null entries are off."""
    return [build(cfg[group], name) for name, c in (cfg.get(group) or {}).items() if c is not None]


def task_keys(cfg: DictConfig) -> dict[str, str]:
    """Task name -> the config key holding its `task` and `data`: each entry of `tasks`, or the
    top-level `task` and `data` of a single-task run."""
    if cfg.get("tasks"):
        return {name: f"tasks.{name}." for name in cfg.tasks}
    return {cfg.task.get("name") or "task": ""}


def build_preprocessors(cfg: DictConfig) -> dict:
    """Modality -> the CPU half of each tokenizer in `model.tokenizers`, built from its config
    without the model (its `_target_`'s `build_preprocessor`)."""
    return {
        name: build(
            cfg,
            f"model.tokenizers.{name}",
            _target_=f"{node._target_}.build_preprocessor",
            _convert_="all",
        )
        for name, node in cfg.model.tokenizers.items()
    }


def build_tasks(cfg: DictConfig) -> tuple[dict, MultiTaskDataModule, dict[str, float]]:
    """The tasks, their data as one datamodule, and their loss weights; the data is built from
    the config alone, so it never holds the model."""
    preprocessors = build_preprocessors(cfg)
    tasks, datamodules, weights, ratios = {}, {}, {}, {}
    for name, at in task_keys(cfg).items():
        task = build(cfg, f"{at}task", name=name)
        tasks[name] = task
        collate_fn = task.collator(preprocessors, cfg.model.context_length)
        packed = task.collator(preprocessors, cfg.model.context_length, True) if cfg.pack else None
        datamodules[name] = build(
            cfg,
            f"{at}data",
            preprocessors=preprocessors,
            collate_fn=collate_fn,
            train_collate_fn=packed,
        )
        if at:
            weights[name] = float(cfg.tasks[name].get("weight", 1.0))
            ratios[name] = float(cfg.tasks[name].get("ratio", 1.0))
    data = MultiTaskDataModule(datamodules, ratios, cfg.get("mix_batch_size"))
    return tasks, data, weights


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured model on the configured task and data; test if there is a test split.
    The final metrics are returned and written to `<run_dir>/results.json`."""
    validate(cfg)
    ckpt_path = local_checkpoint(cfg.ckpt_path, cfg.run_dir)
    use_threads(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True)
    source = adopt_source_config(cfg.model, cfg.init_from, cfg.trust) if cfg.init_from else None
    model = build(cfg, "model")
    if source is not None:
        load_matching(model, source, cfg.init_from)
    freeze(model, cfg.freeze)
    if cfg.compile:
        model.backbone.compile()
    tasks, data, weights = build_tasks(cfg)
    module = MultimodalModule(
        model,
        tasks,
        optimizer=build(cfg, "optim"),
        scheduler=build(cfg, "scheduler"),
        loss_weights=weights,
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    trainer = build(
        cfg, "trainer", callbacks=build_all(cfg, "callbacks"), logger=build_all(cfg, "loggers")
    )
    if ckpt_path is not None and trainer.is_global_zero:
        print(f"resuming from {ckpt_path}")
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    results = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if data.has("test"):
        for metrics in trainer.test(module, datamodule=data, verbose=False):
            results.update({k: float(v) for k, v in metrics.items()})
    if trainer.is_global_zero:
        print(module.bad_samples.report())
        Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
        Path(cfg.run_dir, "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    return results
