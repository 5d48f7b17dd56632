"""Checkpoints: rebuild a model from the resolved config it carries, loading with weights_only.

A checkpoint is Lightning's dict with "state_dict" plus our "config": plain containers only
(`OmegaConf.to_container(cfg, resolve=True)`), so `torch.load(weights_only=True)` reads it and
nothing arbitrary is unpickled. The stored config is data: the model is built from it through
`multimodal.registry`, bounded on the meta device first (`multimodal.model_file`).
"""

import re
from collections.abc import Iterable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from multimodal import registry
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.model_file import check_tensors, rebuild, stored_config

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def check_file(path: Path, kind: str) -> None:
    if path.is_dir():
        raise InputError(f"{kind} {path} is a directory; expected a file")
    if not path.is_file():
        raise InputError(f"{kind} {path} does not exist")


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, after checking it is one of ours: a plain stored config with a model
    mapping, and a state dict of tensors."""
    path = Path(path)
    check_file(path, "checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise InputError(f"checkpoint {path} is not a readable PyTorch checkpoint file") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt or "state_dict" not in ckpt:
        raise InputError(
            f"checkpoint {path} is not a tokenize-anything checkpoint (no stored config or weights)"
        )
    stored_config(ckpt["config"], f"checkpoint {path}")
    check_tensors(ckpt["state_dict"], f"checkpoint {path}")
    return ckpt


def build_model(model_config: dict | DictConfig, allow: Iterable = ()) -> MultimodalModel:
    """A `MultimodalModel` from its config, through the registry (`multimodal.registry.build`).
    A composed `DictConfig` is the caller's own and is resolved first; a plain dict is used as
    it is, never interpolated."""
    if isinstance(model_config, DictConfig):
        model_config = OmegaConf.to_container(model_config, resolve=True)
    return registry.build(model_config, "model", allow)


def model_weights(ckpt: dict) -> dict:
    """The model's tensors of a checkpoint's state dict (the keys under "model.")."""
    return {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")
    }


def load_model_and_config(path: str | Path, allow: Iterable = ()) -> tuple[MultimodalModel, dict]:
    """The model of a checkpoint, rebuilt from its stored config, and that config.

    `allow`: class paths (or classes) the stored config may name beyond the registry's.
    """
    ckpt = read_checkpoint(path)
    config = ckpt["config"]
    model = rebuild(config["model"], model_weights(ckpt), f"checkpoint {path}", allow)
    return model, config


def load_model(
    path: str | Path, device: str | torch.device = "cpu", allow: Iterable = ()
) -> MultimodalModel:
    """The model of a checkpoint, rebuilt from its stored config, in eval mode."""
    model, _ = load_model_and_config(path, allow)
    return model.to(device).eval()


def local_checkpoint(ckpt_path, run_dir=None) -> str | None:
    """`ckpt_path` for `Trainer.fit`: an existing local checkpoint file, or None to start afresh.

    "last", or null when the run folder `run_dir` has one, is that run's `checkpoints/last.ckpt`
    (a run started again continues). A URL is refused, as Lightning would unpickle a downloaded
    file with weights_only=False.
    """
    last = Path(run_dir or ".") / "checkpoints" / "last.ckpt"
    if ckpt_path == "last" and not last.is_file():
        raise InputError(f"ckpt_path=last, but run folder {run_dir} has no checkpoints/last.ckpt")
    if ckpt_path in (None, "last"):
        return str(last) if run_dir is not None and last.is_file() else None
    path = str(ckpt_path)
    if URL.match(path):
        raise InputError(f"ckpt_path {path} is a URL; resuming takes a local checkpoint file")
    if not Path(path).is_file():
        raise InputError(f"ckpt_path {path} is not a checkpoint file")
    return path
