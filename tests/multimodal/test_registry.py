"""The registry builds a stored config as data: only known classes are called, and only after
the whole tree passed; nothing is imported from it or interpolated in it."""

import io
import os
from collections import OrderedDict

import numpy as np
import pytest
import torch

from multimodal import registry
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.tasks.classifier_head import ClassifierHead

from ..conftest import plain_model_config


class Marker:
    """Runs os.system when unpickled: what a pickle payload inside a stored config would do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def numpy_payload(marker) -> dict:
    """`numpy.load(io.BytesIO(bytes.fromhex(<pickle>)), allow_pickle=True)` as Hydra nodes."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([Marker(marker)], dtype=object), allow_pickle=True)
    return {
        "_target_": "numpy.load",
        "file": {
            "_target_": "io.BytesIO",
            "_args_": [{"_target_": "builtins.bytes.fromhex", "_args_": [buffer.getvalue().hex()]}],
        },
        "allow_pickle": True,
    }


@pytest.fixture
def config(byte_encoding) -> dict:
    return plain_model_config(byte_encoding, n_layers=1)


@pytest.fixture
def spied(monkeypatch):
    """A registered class that records each construction; the registry is restored after."""
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    made = []

    class Spy:
        def __init__(self, **kwargs):
            made.append(kwargs)

    registry.register(Spy, "tests.Spy")
    return made


def test_the_projects_classes_build(config):
    config["tokenizers"]["image"]["augment"] = [
        {
            "_target_": "torchvision.transforms.v2.RandomAffine",
            "degrees": 5,
            "translate": [0.1, 0.1],
        }
    ]
    model = registry.build(config)
    assert isinstance(model, MultimodalModel)
    assert set(model.heads) == {"lm", "classifier"}
    (affine,) = model.preprocessor("image").augment
    assert type(affine).__name__ == "RandomAffine" and list(affine.translate) == [0.1, 0.1]


def test_a_numpy_pickle_payload_is_refused_before_anything_runs(config, tmp_path, spied):
    marker = tmp_path / "PWNED"
    config["heads"]["spy"] = {"_target_": "tests.Spy"}  # built before the image tokenizer
    config["tokenizers"]["image"]["background"] = numpy_payload(marker)
    with pytest.raises(InputError) as e:
        registry.build(config)
    assert str(e.value).startswith(
        "config key model.tokenizers.image.background names 'numpy.load', which is not"
    )
    assert not marker.exists()
    assert spied == []  # nothing was called before the refusal


@pytest.mark.parametrize(
    "node",
    [
        {"_target_": "builtins.open", "file": "{out}", "mode": "w"},
        {"_target_": "pathlib.Path.write_text", "self": "{out}", "data": "x"},
        {"_target_": "shutil.copyfile", "src": "{src}", "dst": "{out}"},
        {"_target_": "torch.load", "f": "{src}", "weights_only": False},
        {"_target_": "os.system", "command": "touch {out}"},
        {"_target_": "torchvision.transforms.v2.Lambda", "lambd": "print"},
        {"_target_": "torchvision.transforms.v2.Compose", "transforms": []},
        {"_target_": ["multimodal.model.MultimodalModel"]},
    ],
)
def test_calls_outside_the_registry_are_refused(config, tmp_path, node):
    out, src = tmp_path / "written", tmp_path / "src"
    src.write_text("x")
    node = {k: v.format(out=out, src=src) if isinstance(v, str) else v for k, v in node.items()}
    config["tokenizers"]["image"]["augment"] = [node]
    with pytest.raises(InputError, match=r"config key model.tokenizers.image.augment\[0\] names"):
        registry.build(config)
    assert not out.exists()


@pytest.mark.parametrize("key", ["_partial_", "_args_", "_recursive_", "_convert_", "_set_"])
def test_hydra_options_are_refused(config, key):
    config["heads"]["classifier"][key] = True if key == "_partial_" else []
    with pytest.raises(InputError, match=f"config key model.heads.classifier.{key} is a Hydra"):
        registry.build(config)


@pytest.mark.parametrize(
    "value, kind",
    [((1, 2), "tuple"), (b"x", "bytes"), ({1}, "set"), (torch.zeros(2), "Tensor"), (len, "")],
)
def test_values_that_are_not_plain_data_are_refused(config, value, kind):
    config["heads"]["classifier"]["labels"] = ["a", value, "c"]
    with pytest.raises(InputError, match=rf"model.heads.classifier.labels\[1\] holds a {kind}"):
        registry.build(config)


def test_keys_depth_and_size_are_bounded(config, monkeypatch):
    config["backbone"][3] = 1
    with pytest.raises(InputError, match="config key model.backbone has a key 3 that is no"):
        registry.build(config)
    del config["backbone"][3]
    deep = node = {}
    for _ in range(registry.MAX_DEPTH + 5):
        node["x"] = node = {}
    config["heads"]["deep"] = deep
    with pytest.raises(InputError, match="is nested deeper than 32 levels"):
        registry.build(config)
    del config["heads"]["deep"]
    monkeypatch.setattr(registry, "MAX_VALUES", 20)
    with pytest.raises(InputError, match="config model holds more than 20 values"):
        registry.build(config)


def test_interpolations_stay_literal_strings(config):
    config["heads"]["classifier"]["labels"] = ["${oc.env:HOME}", "${now:%Y}", "\\${x}"]
    head = registry.build(config).heads["classifier"]
    assert head.labels == ["${oc.env:HOME}", "${now:%Y}", "\\${x}"]


def test_construction_errors_name_the_key(config):
    config["backbone"]["wings"] = 2
    with pytest.raises(
        InputError,
        match=r"config key model.backbone \(multimodal.transformer.Transformer\) could not be "
        "built: TypeError: .*wings",
    ):
        registry.build(config)
    del config["backbone"]["wings"]
    config["tokenizers"]["image"]["channels"] = 5
    with pytest.raises(
        InputError,
        match="config key model.tokenizers.image could not be built: image tokenizer 'channels' "
        "must be 1 or 3, got 5",
    ):
        registry.build(config)


def test_register_adds_a_class_under_its_path_or_a_name(monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    node = {"_target_": "collections.OrderedDict", "a": 1}
    with pytest.raises(InputError, match="names 'collections.OrderedDict', which is not"):
        registry.build(node, "x")
    assert registry.register(OrderedDict) == "collections.OrderedDict"
    assert registry.build(node, "x") == OrderedDict(a=1)
    registry.register(ClassifierHead, "head")
    assert registry.build({"_target_": "head", "d_model": 4, "num_classes": 2}).num_classes == 2
    with pytest.raises(InputError, match="register takes a class"):
        registry.register(print)


def test_allow_imports_the_classes_a_user_names():
    node = {"_target_": "collections.OrderedDict", "a": 1}
    assert registry.build(node, "x", allow=["collections.OrderedDict"]) == OrderedDict(a=1)
    assert registry.build(node, "x", allow=[OrderedDict]) == OrderedDict(a=1)
    assert registry.build(node, "x", allow="collections.OrderedDict") == OrderedDict(a=1)
    with pytest.raises(InputError, match="names 'collections.OrderedDict', which is not"):
        registry.build(node, "x", allow=["collections.Counter"])
    with pytest.raises(InputError, match="trust entry 'os.system' is not a class"):
        registry.build(node, "x", allow=["os.system"])
    with pytest.raises(InputError, match="trust entry 'no_such.Thing' names no importable class"):
        registry.build(node, "x", allow=["no_such.Thing"])
    with pytest.raises(InputError, match="trust must be a list of class paths, got 3"):
        registry.build(node, "x", allow=3)
