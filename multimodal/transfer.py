"""Start a run from another checkpoint: keep its tokenizers and heads, load matching weights,
optionally freeze parts. This is how a new head is trained on a trained backbone.
"""

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from multimodal.checkpoint import read_checkpoint
from multimodal.errors import InputError

FREEZABLE = ("backbone", "tokenizers", "heads")


def adopt_source_config(model_cfg: DictConfig, path: str) -> dict:
    """Add the source checkpoint's tokenizers and heads that `model_cfg` lacks; return its weights.

    The run's own entries win, so an experiment can add a head or change one; the backbone
    must have the source's shape for its weights to load.
    """
    ckpt = read_checkpoint(path)
    source = ckpt["config"].get("model", {})
    with open_dict(model_cfg):
        for group in ("tokenizers", "heads"):
            for name, entry in (source.get(group) or {}).items():
                if name not in model_cfg[group]:
                    model_cfg[group][name] = OmegaConf.create(entry)
    mine, theirs = model_cfg.backbone, source.get("backbone", {})
    for key in ("d_model", "n_layers", "n_heads"):
        if key in theirs and mine[key] != theirs[key]:
            raise InputError(
                f"init_from checkpoint {path} has backbone {key}={theirs[key]}, but this run's "
                f"model.backbone.{key} is {mine[key]}"
            )
    return {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")
    }


def load_matching(model: nn.Module, state: dict, path: str) -> int:
    """Copy every weight of `state` that `model` has; return how many tensors were loaded."""
    own = model.state_dict()
    shared = {k: v for k, v in state.items() if k in own}
    for k, v in shared.items():
        if v.shape != own[k].shape:
            raise InputError(
                f"init_from checkpoint {path} has {k} of shape {tuple(v.shape)}; this model's is "
                f"{tuple(own[k].shape)}"
            )
    model.load_state_dict(shared, strict=False)
    return len(shared)


def freeze(model: nn.Module, parts: Sequence[str]) -> None:
    """Stop gradients for parts named "backbone", "tokenizers", "heads" or "heads.<name>"."""
    for part in parts:
        top = part.split(".")[0]
        if top not in FREEZABLE:
            raise InputError(f"freeze entry {part!r} is unknown; expected one of {FREEZABLE}")
        try:
            module = model.get_submodule(part)
        except AttributeError:
            raise InputError(f"freeze entry {part!r} names no part of the model") from None
        module.requires_grad_(False)
