"""Start a run from another checkpoint: keep its tokenizers and heads, load matching weights,
optionally freeze parts. This is how a new head is trained on a trained backbone.
"""

from collections.abc import Iterable, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from multimodal import registry
from multimodal.checkpoint import model_weights, read_checkpoint
from multimodal.errors import InputError

FREEZABLE = ("backbone", "tokenizers", "heads")


def check_literal(value, path: str, where: str) -> None:
    """Refuse strings that a composed config would not keep as written: "${" starts an
    interpolation, and escaping it does not hold, as Hydra's instantiate resolves a config in
    place and then reads it again; "???" reads as unset."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            check_literal(v, registry.join(path, k), where)
    elif isinstance(value, str) and ("${" in value or value == "???"):
        raise InputError(
            f"{where} stores {registry.shown(value)} at config key {path}; init_from adopts no "
            "string with '${' or equal to '???', which the run's config would not keep as written"
        )


def adopt(model_cfg: DictConfig, source: dict, where: str, trust: Iterable) -> None:
    """Add the source model's tokenizers and heads that `model_cfg` lacks, each checked against
    the registry and `trust` before anything is built, its strings checked to stay literal."""
    for group in ("tokenizers", "heads"):
        found = source.get(group) or {}
        if not isinstance(found, dict) or not all(isinstance(e, dict) for e in found.values()):
            raise InputError(
                f"{where} stores config key model.{group} that is no mapping of mappings"
            )
        for name, entry in found.items():
            if name in model_cfg[group]:
                continue
            key = registry.join(f"model.{group}", name)
            try:
                registry.check(entry, key, trust)
            except InputError as e:
                raise InputError(f"{where}: {e}") from None
            check_literal(entry, key, where)
            with open_dict(model_cfg):
                model_cfg[group][name] = OmegaConf.create(entry)


def adopt_source_config(model_cfg: DictConfig, path: str, trust: Iterable = ()) -> dict:
    """Add the source checkpoint's tokenizers and heads that `model_cfg` lacks; return its weights.

    The run's own entries win, so an experiment can add a head or change one; the backbone
    must have the source's shape for its weights to load. The adopted entries may name only
    registered classes or those in `trust` (class paths from the run's config).
    """
    ckpt = read_checkpoint(path)
    source = ckpt["config"]["model"]
    adopt(model_cfg, source, f"init_from checkpoint {path}", trust)
    mine, theirs = model_cfg.backbone, source.get("backbone") or {}
    if not isinstance(theirs, dict):
        raise InputError(
            f"init_from checkpoint {path} stores config key model.backbone that is no mapping"
        )
    for key in ("d_model", "n_layers", "n_heads"):
        if key in theirs and mine[key] != theirs[key]:
            raise InputError(
                f"init_from checkpoint {path} has backbone {key}={theirs[key]}, but this run's "
                f"model.backbone.{key} is {mine[key]}"
            )
    return model_weights(ckpt)


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
