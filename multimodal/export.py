"""Model files: a checkpoint exported to one safetensors file, and either read back.

The export holds the weights (`safetensors.torch.save_model`, which stores a tied LM head's
shared matrix once) and, in the file's metadata, the checkpoint's resolved config as a JSON
string under "config" (plus "format": "tokenize-anything"), so one file rebuilds the model.
Neither format unpickles anything: checkpoints load with `weights_only=True`, safetensors holds
only tensors and strings; either stored config is data, built through `multimodal.registry`.
"""

import json
from collections.abc import Iterable
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from multimodal.checkpoint import check_file, load_model_and_config
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.model_file import rebuild, stored_config

FORMAT = "tokenize-anything"


def export(ckpt: str | Path, out: str | Path, allow: Iterable = ()) -> Path:
    """Write the checkpoint's weights and config to the safetensors file `out`."""
    out = Path(out)
    if out.suffix != ".safetensors":
        raise InputError(f"export path {out} must end in .safetensors")
    model, config = load_model_and_config(ckpt, allow)
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, "config": json.dumps(config)}
    safetensors.torch.save_model(model, str(out), metadata=metadata)
    return out


def read_file(path: Path) -> tuple[dict, dict]:
    """The metadata and tensors of an export, after checking it is one of ours."""
    check_file(path, "model file")
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = safetensors.torch.load_file(str(path)) if metadata.get("format") == FORMAT else {}
    except Exception:
        raise InputError(f"model file {path} is not a readable safetensors file") from None
    if metadata.get("format") != FORMAT or "config" not in metadata:
        raise InputError(f"model file {path} is not a tokenize-anything export (no stored config)")
    return metadata, tensors


def parse_config(text: str, source: str) -> dict:
    """The JSON config of an export's metadata, checked as `stored_config` checks it."""
    try:
        config = json.loads(text)
    except ValueError:
        raise InputError(f"{source} stores a config that is not JSON") from None
    except RecursionError:
        raise InputError(f"{source} stores a config nested too deeply to read") from None
    return stored_config(config, source)


def read_export(path: str | Path, allow: Iterable = ()) -> tuple[MultimodalModel, dict]:
    """The model of an exported safetensors file and the config stored in it.

    `allow`: class paths (or classes) the stored config may name beyond the registry's.
    """
    path = Path(path)
    source = f"model file {path}"
    metadata, tensors = read_file(path)
    config = parse_config(metadata["config"], source)
    return rebuild(config["model"], tensors, source, allow), config


def read_model(
    path: str | Path, device: str | torch.device = "cpu", allow: Iterable = ()
) -> tuple[MultimodalModel, dict]:
    """A `.safetensors` export or a Lightning checkpoint: the model in eval mode and its config."""
    path = Path(path)
    if path.suffix == ".safetensors":
        model, config = read_export(path, allow)
    else:
        model, config = load_model_and_config(path, allow)
    return model.to(device).eval(), config
