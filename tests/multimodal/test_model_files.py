"""Model files are data: a hostile or malformed checkpoint or export gives one InputError from
every reader, runs nothing it names, allocates nothing its config inflates; a good one loads to
the same outputs."""

import json
import time

import pytest
import safetensors
import safetensors.torch
import torch

import multimodal
from multimodal import model_file
from multimodal.checkpoint import load_model
from multimodal.errors import InputError
from multimodal.export import export, read_export
from multimodal.model import MultimodalModel

from .test_registry import numpy_payload


def write_good(tmp_path, checkpoint) -> tuple:
    """A small image + text checkpoint (tied LM head, classifier) and its export."""
    path = checkpoint(tmp_path / "good.ckpt", n_layers=1, context=64, labels=("a", "b", "c"))
    return path, export(path, tmp_path / "good.safetensors")


@pytest.fixture
def good(tmp_path, checkpoint):
    return write_good(tmp_path, checkpoint)


def stored(path) -> tuple[dict, dict]:
    ckpt = torch.load(path, weights_only=True)
    return ckpt["config"], ckpt["state_dict"]


def write_ckpt(path, config, state) -> str:
    torch.save({"config": config, "state_dict": state}, path)
    return str(path)


def write_export(path, config_text: str, tensors) -> str:
    metadata = {"format": "tokenize-anything", "config": config_text}
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)
    return str(path)


def export_tensors(path) -> dict:
    with safetensors.safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def hostile(good, tmp_path, change) -> tuple[str, str]:
    """The good model's files with `change(model_config)` applied to the stored config."""
    config, state = stored(good[0])
    change(config["model"])
    ckpt = write_ckpt(tmp_path / "bad.ckpt", config, state)
    st = write_export(tmp_path / "bad.safetensors", json.dumps(config), export_tensors(good[1]))
    return ckpt, st


def readers(path):
    """Every Python reader of `path`."""
    calls = [multimodal.load]
    calls.append(read_export if str(path).endswith(".safetensors") else load_model)
    return calls


def test_a_good_file_round_trips_to_the_same_outputs(good):
    a, b = multimodal.load(good[0]), multimodal.load(good[1])
    x = torch.rand(1, 12, 16)
    assert a.classify([x], 2) == b.classify([x], 2)
    kw = dict(temperature=0.0, stop_at_eot=False)
    assert a.generate("To be", 6, **kw) == b.generate("To be", 6, **kw)


def test_a_numpy_pickle_payload_never_runs(good, tmp_path):
    marker = tmp_path / "PWNED"
    payload = numpy_payload(marker)
    files = hostile(good, tmp_path, lambda m: m["tokenizers"]["image"].update(background=payload))
    for path in files:
        for read in readers(path):
            with pytest.raises(InputError, match=r"background names 'numpy.load', which is not"):
                read(path)
    with pytest.raises(InputError, match="names 'numpy.load'"):  # mm-export copies nothing
        export(files[0], tmp_path / "copy.safetensors")
    assert not marker.exists() and not (tmp_path / "copy.safetensors").exists()


@pytest.mark.parametrize(
    "node",
    [
        {"_target_": "builtins.open", "file": "{out}", "mode": "w"},
        {"_target_": "pathlib.Path.write_text", "self": "{out}", "data": "x"},
        {"_target_": "shutil.copyfile", "src": "{src}", "dst": "{out}"},
        {"_target_": "torch.load", "f": "{src}", "weights_only": False},
    ],
)
def test_calls_named_inside_a_constructor_argument_are_refused(good, tmp_path, node):
    out, src = tmp_path / "written", good[0]
    node = {k: v.format(out=out, src=src) if isinstance(v, str) else v for k, v in node.items()}
    for path in hostile(good, tmp_path, lambda m: m["tokenizers"]["image"].update(background=node)):
        for read in readers(path):
            with pytest.raises(InputError, match="model.tokenizers.image.background names"):
                read(path)
    assert not out.exists()


def test_interpolations_in_a_stored_config_stay_literal(good, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_VALUE", "leaked")
    labels = ["${oc.env:SECRET_VALUE}", "${oc.env:HOME}", "c"]
    ckpt, st = hostile(good, tmp_path, lambda m: m["heads"]["classifier"].update(labels=labels))
    for path in (ckpt, st):
        assert multimodal.load(path).model.heads["classifier"].labels == labels
    again = read_export(export(ckpt, tmp_path / "again.safetensors"))[0]
    assert again.heads["classifier"].labels == labels


def deep_dict(levels: int) -> dict:
    deep = node = {}
    for _ in range(levels):
        node["x"] = node = {}
    return deep


def malformed_checkpoints(tmp_path, good) -> dict[str, tuple]:
    """name -> (file, what its error says)."""
    config, state = stored(good[0])
    name = "backbone.norm.weight"
    full = good[0].read_bytes()
    files = {}
    for key, data in {
        "truncated": full[: len(full) // 2],
        "zero bytes": b"",
        "text": b"hi",
    }.items():
        (tmp_path / f"{key}.ckpt").write_bytes(data)
        files[key] = (tmp_path / f"{key}.ckpt", "is not a readable PyTorch checkpoint file")
    (tmp_path / "folder.ckpt").mkdir()
    files["a directory"] = (tmp_path / "folder.ckpt", "is a directory; expected a file")
    for key, (c, s, says) in {
        "config a list": ([], state, "stores a config that is not a mapping"),
        "config empty": ({}, state, r"stores no model config \(config key model\)"),
        "model a string": ({"model": "x"}, state, "stores no model config"),
        "model a list": ({"model": []}, state, "stores no model config"),
        "deep nesting": ({**config, "d": deep_dict(40)}, state, "nested deeper than 32 levels"),
        "a tensor in the config": ({**config, "t": torch.zeros(1)}, state, "t holds a Tensor"),
        "task a string": ({**config, "task": "x"}, state, "key task that is not a mapping"),
        "state_dict a list": (config, [1, 2], "stores weights that are not a mapping"),
        "state_dict of strings": (config, {"model.x": "y"}, "weight 'model.x' that is no tensor"),
        "wrong dtype": (
            config,
            dict(state, **{"model." + name: state["model." + name].long()}),
            f"stores {name} as torch.int64; the model holds torch.float32",
        ),
        "wrong shape": (
            config,
            dict(state, **{"model." + name: state["model." + name][:-1]}),
            rf"does not match its own config \({name} has shape \(31,\), the config gives",
        ),
        "an extra tensor": (
            config,
            dict(state, **{"model.heads.extra.weight": torch.zeros(2)}),
            r"unexpected \['heads.extra.weight'\]",
        ),
        "a missing tensor": (
            config,
            {k: v for k, v in state.items() if k != "model." + name},
            rf"missing \['{name}'\]",
        ),
    }.items():
        files[key] = (write_ckpt(tmp_path / f"{key}.ckpt", c, s), says)
    return files


def malformed_exports(tmp_path, good) -> dict[str, tuple]:
    """name -> (file, what its error says)."""
    tensors = export_tensors(good[1])
    config = json.dumps(stored(good[0])[0])
    name = next(k for k in tensors if k.endswith("norm.weight"))
    full = good[1].read_bytes()
    files = {}
    for key, data in {"truncated": full[: len(full) - 100], "zero bytes": b""}.items():
        (tmp_path / f"{key}.safetensors").write_bytes(data)
        files[key] = (tmp_path / f"{key}.safetensors", "is not a readable safetensors file")
    (tmp_path / "folder.safetensors").mkdir()
    files["a directory"] = (tmp_path / "folder.safetensors", "is a directory; expected a file")
    deep = '{"model": ' + '{"a": ' * 5000 + "1" + "}" * 5001
    for key, (text, t, says) in {
        "config not JSON": ("{nope", tensors, "stores a config that is not JSON"),
        "config empty": ("{}", tensors, "stores no model config"),
        "config a list": ("[]", tensors, "stores a config that is not a mapping"),
        "config a string": ('"model"', tensors, "stores a config that is not a mapping"),
        "no model": (json.dumps({"task": {}}), tensors, "stores no model config"),
        "model a string": (json.dumps({"model": "x"}), tensors, "stores no model config"),
        "deep nesting": (deep, tensors, "stores a config nested too deeply to read"),
        "wrong dtype": (
            config,
            dict(tensors, **{name: tensors[name].to(torch.int32)}),
            f"stores {name} as torch.int32",
        ),
        "a missing tensor": (
            config,
            {k: v for k, v in tensors.items() if k != name},
            rf"missing \['{name}'\]",
        ),
    }.items():
        files[key] = (write_export(tmp_path / f"{key}.safetensors", text, t), says)
    return files


@pytest.mark.parametrize("kind", ["checkpoint", "export"])
def test_every_malformed_file_gives_one_input_error(good, tmp_path, kind):
    make = malformed_checkpoints if kind == "checkpoint" else malformed_exports
    source = "checkpoint" if kind == "checkpoint" else "model file"
    for key, (path, says) in make(tmp_path, good).items():
        for read in readers(path):
            with pytest.raises(InputError, match=f"^{source} {path}.*{says}") as e:
                read(path)
            assert "\n" not in str(e.value), key


@pytest.mark.parametrize(
    "part, key, value",
    [
        ("backbone", "d_model", 1_000_000_000),
        ("backbone", "n_layers", 10_000_000),
        ("audio", "max_seconds", 1e12),
        ("audio", "n_fft", 1_000_000_000),  # a window held outside any buffer
    ],
)
def test_an_inflated_config_is_refused_before_it_is_allocated(
    checkpoint, tmp_path, part, key, value
):
    path = checkpoint(tmp_path / "m.ckpt", modalities=("image", "audio"), n_layers=1)
    config, state = stored(path)
    model = config["model"]
    node = model["backbone"] if part == "backbone" else model["tokenizers"][part]
    node[key] = value
    if key == "d_model":  # keep the config consistent, so only the size is wrong
        for entry in [*model["tokenizers"].values(), *model["heads"].values()]:
            entry["d_model"] = value
    path = write_ckpt(tmp_path / "inflated.ckpt", config, state)
    start = time.perf_counter()
    with pytest.raises(InputError, match=f"checkpoint {path} (describes a model that makes|does)"):
        load_model(path)
    assert time.perf_counter() - start < 10


def test_the_meta_bound_counts_what_constructors_make(good, monkeypatch):
    monkeypatch.setattr(model_file, "MADE_FLOOR", 0)
    monkeypatch.setattr(model_file, "MADE_FACTOR", 0.5)  # less than the weights themselves
    with pytest.raises(InputError, match="describes a model that makes more than"):
        load_model(good[0])
    monkeypatch.setattr(model_file, "MADE_FACTOR", 4)  # what a normal model stays below
    assert isinstance(load_model(good[0]), MultimodalModel)
