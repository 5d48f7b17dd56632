"""Start-up checks of a composed config: required keys set, typed keys of the right type.

Each failure is one `InputError` sentence naming the key.
"""

from omegaconf import DictConfig, OmegaConf

from multimodal.errors import InputError

REQUIRED = {
    "task": "choose an experiment, e.g. experiment=shakespeare",
    "data": "choose an experiment, e.g. experiment=shakespeare",
}
TYPED = {
    "seed": int,
    "compile": bool,
    "threads": int,
    "model.context_length": int,
    "model.backbone.d_model": int,
    "model.backbone.n_layers": int,
    "model.backbone.n_heads": int,
    "optim.lr": float,
    "optim.weight_decay": float,
    "optim.warmup_steps": int,
    "trainer.max_epochs": int,
    "trainer.max_steps": int,
    "data.batch_size": int,
}


def check_type(key: str, value, expected: type) -> None:
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        raise InputError(f"config key {key} must be {expected.__name__}, got {value!r}")


def validate(cfg: DictConfig) -> None:
    """Raise `InputError` naming the first missing or mistyped key."""
    for key, hint in REQUIRED.items():
        if key not in cfg or OmegaConf.is_missing(cfg, key) or cfg[key] is None:
            raise InputError(f"config key {key} is not set; {hint}")
    for key, expected in TYPED.items():
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if value is not None:
            check_type(key, value, expected)
