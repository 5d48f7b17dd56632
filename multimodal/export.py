"""Model files: a checkpoint exported to one safetensors file, and either read back.

The export holds the weights (`safetensors.torch.save_model`, which stores a tied LM head's
shared matrix once) and, in the file's metadata, the checkpoint's resolved config as a JSON
string under "config" (plus "format": "tokenize-anything"), so one file rebuilds the model.
Neither format unpickles anything: checkpoints load with `weights_only=True`, safetensors holds
only tensors and strings.
"""

import json
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from multimodal.checkpoint import build_model, load_model_and_config
from multimodal.errors import InputError
from multimodal.model import MultimodalModel

FORMAT = "tokenize-anything"


def export(ckpt: str | Path, out: str | Path) -> Path:
    """Write the checkpoint's weights and config to the safetensors file `out`."""
    out = Path(out)
    if out.suffix != ".safetensors":
        raise InputError(f"export path {out} must end in .safetensors")
    model, config = load_model_and_config(ckpt)
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, "config": json.dumps(config)}
    safetensors.torch.save_model(model, str(out), metadata=metadata)
    return out


def read_metadata(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception:
        raise InputError(f"model file {path} is not a readable safetensors file") from None
    if metadata.get("format") != FORMAT or "config" not in metadata:
        raise InputError(f"model file {path} is not a tokenize-anything export (no stored config)")
    return metadata


def read_export(path: str | Path) -> tuple[MultimodalModel, dict]:
    """The model of an exported safetensors file and the config stored in it."""
    path = Path(path)
    config = json.loads(read_metadata(path)["config"])
    model = build_model(config["model"])
    try:
        missing, unexpected = safetensors.torch.load_model(model, str(path), strict=False)
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"model file {path} does not match its own config ({first})") from None
    if missing or unexpected:
        raise InputError(
            f"model file {path} does not match its own config (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]})"
        )
    return model, config


def read_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[MultimodalModel, dict]:
    """A `.safetensors` export or a Lightning checkpoint: the model in eval mode and its config."""
    path = Path(path)
    if path.suffix == ".safetensors":
        model, config = read_export(path)
    else:
        model, config = load_model_and_config(path)
    return model.to(device).eval(), config
