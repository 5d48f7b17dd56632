"""mm-export: one safetensors file with the weights (the tied LM head stored once) and the config
in its metadata; `multimodal.load` gives the same model from it as from the checkpoint."""

import json

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from hydra import compose, initialize_config_module

import multimodal
from multimodal.cli.export import run as export_cli
from multimodal.errors import InputError
from multimodal.export import export


@pytest.fixture
def ckpt(tmp_path, checkpoint):
    """An image + text checkpoint with a tied LM head and a classifier, as mm-train writes it."""
    task = {"_target_": "multimodal.tasks.classification.Classification", "num_classes": 3}
    return checkpoint(
        tmp_path / "run.ckpt",
        {"task": task},
        head_std=1.0,
        context=64,
        n_layers=1,
        labels=("a", "b", "c"),
    )


def image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (12, 16), dtype=np.uint8)


def test_export_loads_back_to_the_same_model_and_outputs(ckpt, tmp_path):
    out = export(ckpt, tmp_path / "model.safetensors")
    from_ckpt, from_export = multimodal.load(ckpt), multimodal.load(out)
    a, b = from_ckpt.model.state_dict(), from_export.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    m = from_export.model
    assert m.heads["lm"].weight is m.tokenizers["text"].embedding.weight  # still tied
    assert from_export.config == from_ckpt.config
    prompt = [{"image": image()}, "The"]
    for temperature, seed in [(0.0, None), (1.0, 3)]:
        kw = dict(temperature=temperature, seed=seed, stop_at_eot=False)
        assert from_export.generate(prompt, 10, **kw) == from_ckpt.generate(prompt, 10, **kw)
    images = [image(1), image(2)]
    assert from_export.classify(images, 3) == from_ckpt.classify(images, 3)


def test_the_file_holds_each_tensor_once_and_the_config_as_json(ckpt, tmp_path):
    out = export(ckpt, tmp_path / "model.safetensors")
    with safetensors.safe_open(str(out), framework="pt") as f:
        keys, metadata = set(f.keys()), f.metadata()
    assert metadata["format"] == "tokenize-anything"
    assert json.loads(metadata["config"]) == torch.load(ckpt, weights_only=True)["config"]
    tied = {"heads.lm.weight", "tokenizers.text.embedding.weight"}
    assert len(keys & tied) == 1  # the shared matrix is written once
    assert len(keys) == len(multimodal.load(ckpt).model.state_dict()) - 1


def test_mm_export_config_writes_the_file(ckpt, tmp_path, capsys):
    out = tmp_path / "sub" / "m.safetensors"
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose("export", [f"ckpt={ckpt}", f"out={out}"])
    assert export_cli(cfg) == out and out.is_file()
    assert f"wrote {out}" in capsys.readouterr().out
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose("export", [f"ckpt={ckpt}"])
    with pytest.raises(InputError, match="config key out is not set"):
        export_cli(cfg)


def test_bad_files_are_named(ckpt, tmp_path):
    with pytest.raises(InputError, match=r"export path .*model.bin must end in .safetensors"):
        export(ckpt, tmp_path / "model.bin")
    with pytest.raises(InputError, match="checkpoint .*missing.ckpt does not exist"):
        export(tmp_path / "missing.ckpt", tmp_path / "m.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match=f"model file {junk} is not a readable safetensors file"):
        multimodal.load(junk)
    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(InputError, match=f"model file {plain} is not a tokenize-anything export"):
        multimodal.load(plain)
    with pytest.raises(InputError, match="model file .*none.safetensors does not exist"):
        multimodal.load(tmp_path / "none.safetensors")
    # a file whose weights do not fit its stored config
    out = export(ckpt, tmp_path / "model.safetensors")
    with safetensors.safe_open(str(out), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    dropped = sorted(k for k in tensors if k.startswith("backbone."))[0]
    del tensors[dropped]
    broken = tmp_path / "broken.safetensors"
    safetensors.torch.save_file(tensors, str(broken), metadata=metadata)
    with pytest.raises(
        InputError, match=f"model file {broken} does not match its own config .*{dropped}"
    ):
        multimodal.load(broken)
