"""Start-up checks of a composed config: required keys set, typed keys of the right type.

Each failure is one `InputError` sentence naming the key.
"""

from omegaconf import DictConfig, OmegaConf

from multimodal.errors import InputError

REQUIRED = {  # unless `tasks` names several, each with its own task and data
    "task": "choose an experiment, e.g. experiment=shakespeare",
    "data": "choose an experiment, e.g. experiment=shakespeare",
}
TYPED = {
    "seed": int,
    "compile": bool,
    "model.context_length": int,
    "model.backbone.d_model": int,
    "model.backbone.n_layers": int,
    "model.backbone.n_heads": int,
    "optim.lr": float,
    "optim.weight_decay": float,
    "scheduler.warmup_steps": int,
    "trainer.max_epochs": int,
    "trainer.max_steps": int,
    "data.batch_size": int,
    "mix_batch_size": int,
}


def check_type(key: str, value, expected: type) -> None:
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        raise InputError(f"config key {key} must be {expected.__name__}, got {value!r}")


PER_TASK = {"weight": float, "ratio": float, "data.batch_size": int}


def is_set(cfg: DictConfig, key: str) -> bool:
    return OmegaConf.select(cfg, key, default=None, throw_on_missing=False) is not None


def validate(cfg: DictConfig) -> None:
    """Raise `InputError` naming the first missing or mistyped key."""
    tasks = cfg.get("tasks") or {}
    if tasks:
        for name in tasks:
            for part in ("task", "data"):
                if not is_set(cfg, f"tasks.{name}.{part}"):
                    raise InputError(f"config key tasks.{name}.{part} is not set")
            for key, expected in PER_TASK.items():
                if is_set(cfg, f"tasks.{name}.{key}"):
                    check_type(
                        f"tasks.{name}.{key}", OmegaConf.select(cfg.tasks[name], key), expected
                    )
    else:
        for key, hint in REQUIRED.items():
            if not is_set(cfg, key):
                raise InputError(f"config key {key} is not set; {hint}")
    for key, expected in TYPED.items():
        if is_set(cfg, key):
            check_type(key, OmegaConf.select(cfg, key), expected)
