"""Checkpoints: rebuild a model from the resolved config it carries, loading with weights_only.

A checkpoint is Lightning's dict with "state_dict" plus our "config": plain containers only
(`OmegaConf.to_container(cfg, resolve=True)`), so `torch.load(weights_only=True)` reads it and
nothing arbitrary is unpickled.
"""

from pathlib import Path

import torch
from hydra.utils import instantiate

from multimodal.errors import InputError
from multimodal.model import MultimodalModel


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, after checking it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise InputError(f"checkpoint {path} is not a readable PyTorch checkpoint file") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or "state_dict" not in ckpt:
        raise InputError(
            f"checkpoint {path} is not a tokenize-anything checkpoint (no stored config or weights)"
        )
    return ckpt


def build_model(model_config: dict) -> MultimodalModel:
    """Instantiate a `MultimodalModel` from its (resolved) config."""
    return instantiate(model_config, _convert_="all")


def load_model_and_config(path: str | Path) -> tuple[MultimodalModel, dict]:
    """The model of a checkpoint, rebuilt from its stored config, and that config."""
    ckpt = read_checkpoint(path)
    config = ckpt["config"]
    if not isinstance(config.get("model"), dict):
        raise InputError(f"checkpoint {path} stores no model config (config key model)")
    model = build_model(config["model"])
    state = {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")
    }
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise InputError(f"checkpoint {path} does not match its own config ({first})") from None
    return model, config


def load_model(path: str | Path, device: str | torch.device = "cpu") -> MultimodalModel:
    """The model of a checkpoint, rebuilt from its stored config, in eval mode."""
    model, _ = load_model_and_config(path)
    return model.to(device).eval()
