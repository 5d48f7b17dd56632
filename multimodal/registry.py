"""Build objects from a config read from a file, calling only the classes registered here.

A config found in a checkpoint or an export is data. `build` first checks the whole tree (plain
values only, bounded depth and size, every `_target_` a known class, no other Hydra key), and
only then calls the classes, bottom-up, with keyword arguments. Nothing is imported from a name
the file gives, resolved or interpolated: "${oc.env:HOME}" stays that string.

Known classes: the project's own (`PROJECT`, and `ALIASES` for names older files store), those
registered in code (`register`), and those a caller allows by class path (`allow`, e.g. a
`trust: [pkg.module.Class]` list in a config the user composes), imported from that path.
The project's own are imported by their registered name when a checked config names them
(`resolve`), so this module imports none of them: the core never imports `multimodal.tasks`.
"""

import importlib
import re
from collections.abc import Callable, Iterable, Iterator

from torchvision.transforms import v2

from multimodal.errors import InputError

MAX_DEPTH = 32  # levels of nesting in a stored config
MAX_VALUES = 1_000_000  # values (dicts, lists and leaves) in a stored config
PLAIN = (str, int, float, bool, type(None))
TARGET = "_target_"

# torchvision.transforms.v2 image transforms for `ImageTokenizer(augment=[...])`; none of those
# that take a callable (Lambda, Compose, RandomApply, RandomChoice, RandomOrder, CutMix, MixUp,
# SanitizeBoundingBoxes), tensors (LinearTransformation) or dtypes (ToDtype).
TRANSFORMS = (
    "AugMix",
    "AutoAugment",
    "CenterCrop",
    "ColorJitter",
    "ElasticTransform",
    "GaussianBlur",
    "GaussianNoise",
    "Grayscale",
    "Identity",
    "JPEG",
    "Normalize",
    "Pad",
    "RGB",
    "RandAugment",
    "RandomAdjustSharpness",
    "RandomAffine",
    "RandomAutocontrast",
    "RandomChannelPermutation",
    "RandomCrop",
    "RandomEqualize",
    "RandomErasing",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomInvert",
    "RandomPerspective",
    "RandomPhotometricDistort",
    "RandomPosterize",
    "RandomResize",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomShortestSize",
    "RandomSolarize",
    "RandomVerticalFlip",
    "RandomZoomOut",
    "Resize",
    "ScaleJitter",
    "TrivialAugmentWide",
)

PROJECT = (  # the project's buildable classes, by module path
    "multimodal.model.MultimodalModel",
    "multimodal.transformer.Transformer",
    "multimodal.tokenizers.text.TextTokenizer",
    "multimodal.tokenizers.image.ImageTokenizer",
    "multimodal.tokenizers.audio.AudioTokenizer",
    "multimodal.tasks.lm_head.LMHead",
    "multimodal.tasks.classifier_head.ClassifierHead",
    "multimodal.tasks.ctc_head.CTCHead",
    "multimodal.tasks.language_modeling.LanguageModeling",
    "multimodal.tasks.classification.Classification",
    "multimodal.tasks.transcribe_ar.ARTranscription",
    "multimodal.tasks.transcribe_ctc.CTCTranscription",
)
ALIASES = {  # name an older file stores -> what builds it now
    "multimodal.tasks.transcription.Transcription": "multimodal.tasks.legacy.transcription",
}

# name -> class, or the module path it is imported from when first built (`resolve`)
REGISTRY: dict[str, Callable | str] = {
    **{name: name for name in PROJECT},
    **ALIASES,
    **{f"torchvision.transforms.v2.{name}": getattr(v2, name) for name in TRANSFORMS},
}


def resolve(entry: Callable | str) -> Callable:
    """A registry entry's class (or builder): a module path of the project's is imported."""
    if not isinstance(entry, str):
        return entry
    module, _, name = entry.rpartition(".")
    return getattr(importlib.import_module(module), name)


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls: type, name: str | None = None) -> str:
    """Let stored configs build `cls` as `_target_: name` (default: its module path)."""
    if not isinstance(cls, type):
        raise InputError(f"register takes a class, got {cls!r}")
    name = name or class_path(cls)
    REGISTRY[name] = cls
    return name


def import_class(path: str) -> type:
    """The class at `path` ("package.module.Class"), named in a config the user composed."""
    module, _, name = str(path).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise InputError(f"trust entry {shown(path)} names no importable class") from None
    except Exception as e:
        raise InputError(f"trust entry {shown(path)} failed to import ({first_line(e)})") from None
    if not isinstance(cls, type):
        raise InputError(f"trust entry {shown(path)} is not a class")
    return cls


def known(allow: Iterable[str | type] | str | None = ()) -> dict[str, Callable | str]:
    """The registry plus the classes in `allow` (class paths or classes)."""
    if allow is None or isinstance(allow, str | type):
        allow = [] if allow is None else [allow]
    elif not isinstance(allow, Iterable):
        raise InputError(f"trust must be a list of class paths, got {shown(allow)}")
    extra = {}
    for entry in allow:
        if isinstance(entry, type):
            extra[class_path(entry)] = entry
        elif isinstance(entry, str):
            extra[entry] = import_class(entry)
        else:
            raise InputError(f"trust entry {entry!r} must be a class path such as pkg.module.Class")
    return {**REGISTRY, **extra}


def shown(value, limit: int = 80) -> str:
    """`repr(value)`, cut to `limit` characters: one short line in an error sentence."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    part = key if re.fullmatch(r"[\w\-]+", key) else f"[{shown(key)}]"
    return f"{path}.{part}" if path and not part.startswith("[") else f"{path}{part}"


def walk(tree, where: str = "") -> Iterator[tuple[str, object]]:
    """Every node of `tree` with its key path, parents first; refuses what is not plain data."""
    count = 0
    stack = [(where, tree, 0)]
    while stack:
        path, node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise InputError(f"config {where or 'tree'} holds more than {MAX_VALUES} values")
        if depth > MAX_DEPTH:
            raise InputError(f"config key {path} is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            for key in node:
                if not isinstance(key, str):
                    raise InputError(
                        f"config key {path or '(root)'} has a key {shown(key)} that is no string"
                    )
            children = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        elif isinstance(node, PLAIN):
            children = []
        else:
            raise InputError(
                f"config key {path or '(root)'} holds a {type(node).__name__}; a stored config "
                "holds only mappings, lists, strings, numbers, booleans and null"
            )
        yield path, node
        stack.extend((join(path, k), v, depth + 1) for k, v in reversed(children))


def check_plain(tree, where: str = "") -> None:
    """Refuse a tree that is not plain data of bounded depth and size."""
    for _ in walk(tree, where):
        pass


def check(config, where: str = "model", allow: Iterable[str | type] | str | None = ()) -> None:
    """Refuse, before anything is called, a tree that `build` would not build; import the
    project's classes it names."""
    check_targets(config, where, known(allow))


def check_targets(config, where: str, targets: dict[str, Callable | str]) -> None:
    for path, node in walk(config, where):
        if not isinstance(node, dict):
            continue
        for key in node:
            if key != TARGET and key.startswith("_") and key.endswith("_"):
                raise InputError(
                    f"config key {join(path, key)} is a Hydra option, which a stored config may "
                    "not use"
                )
        if TARGET in node and (not isinstance(node[TARGET], str) or node[TARGET] not in targets):
            raise InputError(
                f"config key {path} names {shown(node[TARGET])}, which is not a buildable class "
                "here (register it with multimodal.registry.register, or trust it by class path)"
            )
        if TARGET in node:
            resolve(targets[node[TARGET]])


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def construct(node, path: str, targets: dict[str, Callable | str]):
    if isinstance(node, list):
        return [construct(v, join(path, i), targets) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    kwargs = {k: construct(v, join(path, k), targets) for k, v in node.items() if k != TARGET}
    if TARGET not in node:
        return kwargs
    try:
        return resolve(targets[node[TARGET]])(**kwargs)
    except InputError as e:
        raise InputError(f"config key {path} could not be built: {first_line(e)}") from None
    except Exception as e:
        raise InputError(
            f"config key {path} ({node[TARGET]}) could not be built: "
            f"{type(e).__name__}: {first_line(e)}"
        ) from None


def build(config, where: str = "model", allow: Iterable[str | type] | str | None = ()):
    """The objects a plain config tree names, after `check` passed on the whole tree."""
    targets = known(allow)
    check_targets(config, where, targets)
    return construct(config, where, targets)
