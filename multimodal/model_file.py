"""A model rebuilt from a model file's stored config and tensors, bounded before it is allocated.

The config is data (`multimodal.registry`). The model it describes is built first on the meta
device, where nothing is allocated: its parameters and persistent buffers must be, name for
name and shape for shape, the tensors the file stores, and all the numbers its constructors
make (non-persistent buffers, temporaries) may be at most `MADE_FACTOR` times the numbers the
file stores plus `MADE_FLOOR`. So a stored `d_model: 1000000000` or `max_seconds: 1e12` is
refused in milliseconds. Only then is it built for real and loaded.
"""

from collections.abc import Iterable

import torch
import torch.fx.experimental._config as fx_config
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from multimodal import registry
from multimodal.errors import InputError

MADE_FACTOR = 4  # a normal model makes 1 to 3.5 numbers per stored number while it is built
MADE_FLOOR = 2**24  # 64 MiB of float32 for position tables, filter banks and the like


def stored_config(config, source: str) -> dict:
    """The run config a file stores, once checked: a plain mapping with a `model` mapping, and
    `task` / `tasks` entries that are mappings (inference builds them through the registry)."""
    if not isinstance(config, dict):
        raise InputError(f"{source} stores a config that is not a mapping")
    try:
        registry.check_plain(config)
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    if not isinstance(config.get("model"), dict):
        raise InputError(f"{source} stores no model config (config key model)")
    tasks = config.get("tasks") or {}
    if not isinstance(tasks, dict) or not all(isinstance(t, dict) for t in tasks.values()):
        raise InputError(f"{source} stores config key tasks that is not a mapping of mappings")
    entries = {
        "task": config.get("task"),
        **{f"tasks.{k}.task": t.get("task") for k, t in tasks.items()},
    }
    for key, task in entries.items():
        if task is not None and not isinstance(task, dict):
            raise InputError(f"{source} stores config key {key} that is not a mapping")
    return config


def check_tensors(tensors, source: str) -> None:
    """Refuse a state dict that is not a mapping of names to dense CPU tensors."""
    if not isinstance(tensors, dict):
        raise InputError(f"{source} stores weights that are not a mapping of names to tensors")
    for name, t in tensors.items():
        if not isinstance(name, str) or not isinstance(t, Tensor):
            raise InputError(f"{source} stores weight {registry.shown(name)} that is no tensor")
        if t.layout != torch.strided or t.device.type != "cpu":
            raise InputError(
                f"{source} stores weight {registry.shown(name)} as a {t.layout} {t.device} tensor"
            )


class MadeBudget(TorchDispatchMode):
    """Counts the numbers in every new tensor made while active and stops past `budget`.

    Meant for the meta device: a data-dependent read (`.item()`, `bool()`) gets 0 there.
    """

    def __init__(self, budget: int):
        super().__init__()
        self.budget, self.made = budget, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            return False if args[0].dtype == torch.bool else 0
        out = func(*args, **(kwargs or {}))
        if not any(r.alias_info is not None for r in func._schema.returns):  # new storage
            self.made += sum(t.numel() for t in tree_leaves(out) if isinstance(t, Tensor))
            if self.made > self.budget:
                raise MemoryError(f"more than {self.budget} numbers")
        return out


def build_on_meta(model_config: dict, stored: int, source: str, allow) -> nn.Module:
    """The model the config describes, on the meta device; refused if it makes more numbers
    than the file's `stored` numbers allow."""
    budget = MADE_FACTOR * stored + MADE_FLOOR
    counter = MadeBudget(budget)
    try:
        with (
            torch.device("meta"),
            fx_config.patch(meta_nonzero_assume_all_nonzero=True),
            counter,
        ):
            return registry.build(model_config, "model", allow)
    except InputError as e:
        if counter.made > budget:
            raise InputError(
                f"{source} describes a model that makes more than {budget} numbers while it "
                f"is built, far more than the {stored} numbers the file stores"
            ) from None
        raise InputError(f"{source}: {e}") from None


def check_fit(model: nn.Module, tensors: dict[str, Tensor], source: str) -> None:
    """Every parameter and persistent buffer of `model` (tied ones: at least one of their
    names) is in `tensors` with its shape and kind of dtype, and nothing else is."""
    own = model.state_dict(keep_vars=True)
    unexpected = sorted(tensors.keys() - own.keys())
    if unexpected:
        raise InputError(f"{source} does not match its own config (unexpected {unexpected[:3]})")
    tied: dict[int, list[str]] = {}
    for name, t in own.items():
        tied.setdefault(id(t), []).append(name)
    missing = sorted(names[0] for names in tied.values() if not any(n in tensors for n in names))
    if missing:
        raise InputError(f"{source} does not match its own config (missing {missing[:3]})")
    for name, t in tensors.items():
        want = own[name]
        if t.shape != want.shape:
            raise InputError(
                f"{source} does not match its own config ({name} has shape {tuple(t.shape)}, "
                f"the config gives {tuple(want.shape)})"
            )
        if t.dtype != want.dtype and not (t.is_floating_point() and want.is_floating_point()):
            raise InputError(f"{source} stores {name} as {t.dtype}; the model holds {want.dtype}")


def rebuild(model_config: dict, tensors, source: str, allow: Iterable = ()) -> nn.Module:
    """The model of a file: checked on the meta device against `tensors`, then built and loaded."""
    check_tensors(tensors, source)
    try:  # imports the classes the config names here, not on the meta device
        registry.check(model_config, "model", allow)
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    stored = sum(t.numel() for t in tensors.values())
    check_fit(build_on_meta(model_config, stored, source, allow), tensors, source)
    try:
        model = registry.build(model_config, "model", allow)
        model.load_state_dict(tensors, strict=False)  # every name was checked above
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    except RuntimeError as e:
        raise InputError(f"{source} could not be loaded ({registry.first_line(e)})") from None
    return model
