"""init_from + freeze: a new head on a trained, frozen backbone; the old head still works."""

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from multimodal.checkpoint import load_model
from multimodal.errors import InputError
from multimodal.generation import generate
from multimodal.train import train
from multimodal.transfer import adopt_source_config

from .test_registry import numpy_payload
from .test_train import config


def test_new_head_on_a_frozen_backbone(corpus_root, rank_file, tmp_path):
    first = tmp_path / "first"
    train(config(corpus_root, rank_file, first))
    source_ckpt = first / "run" / "checkpoints" / "last.ckpt"
    source = load_model(source_ckpt)

    second = tmp_path / "second"
    cfg = config(
        corpus_root,
        rank_file,
        second,
        f"init_from={source_ckpt}",
        "freeze=[backbone,tokenizers]",
        "model.heads={}",
        "+model.heads.lm2._target_=multimodal.tasks.lm_head.LMHead",
        "+model.heads.lm2.tie_to=null",
        "+model.heads.lm2.d_model=32",
        "+model.heads.lm2.vocab_size=268",
        "task.name=lm2",
        "task.head=lm2",
        "trainer.max_epochs=1",
    )
    train(cfg)
    result = load_model(second / "run" / "checkpoints" / "last.ckpt")
    assert set(result.heads) == {"lm", "lm2"}
    for name, p in source.backbone.state_dict().items():
        assert torch.equal(p, result.backbone.state_dict()[name]), name
    assert not torch.equal(result.heads["lm2"].weight, result.heads["lm"].weight)

    text = source.tokenizer("text")
    prompt = [[text.prepare("To be, or not")]]
    assert generate(source, prompt, 12, temperature=0) == generate(
        result, prompt, 12, temperature=0
    )
    assert len(generate(result, prompt, 12, temperature=0, head="lm2")[0]) == 12


def test_bad_freeze_and_init_from(corpus_root, rank_file, tmp_path):
    with pytest.raises(InputError, match="freeze entry 'brain' is unknown"):
        train(config(corpus_root, rank_file, tmp_path, "freeze=[brain]"))
    with pytest.raises(InputError, match="checkpoint .*missing.ckpt does not exist"):
        train(config(corpus_root, rank_file, tmp_path, f"init_from={tmp_path / 'missing.ckpt'}"))


def adopt(checkpoint, tmp_path, head: dict, *overrides):
    """The shakespeare run config after adopting a source checkpoint's classifier `head`."""
    source = checkpoint(tmp_path / "source.ckpt", modalities=(), heads=("lm", "classifier"))
    ckpt = torch.load(source, weights_only=True)
    ckpt["config"]["model"]["heads"]["classifier"] = head
    torch.save(ckpt, source)
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose(
            "train",
            [
                "experiment=shakespeare",
                "run_dir=/unused",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=2",
                *overrides,
            ],
        )
    adopt_source_config(cfg.model, str(source), cfg.trust)
    return cfg


CLASSIFIER = {"_target_": "multimodal.tasks.classifier_head.ClassifierHead", "d_model": 32}


def test_init_from_refuses_calls_its_file_names_before_anything_runs(checkpoint, tmp_path):
    marker = tmp_path / "PWNED"
    head = {**CLASSIFIER, "labels": ["a", "b"], "dropout": numpy_payload(marker)}
    with pytest.raises(
        InputError,
        match=r"init_from checkpoint .*source.ckpt: config key model.heads.classifier.dropout "
        "names 'numpy.load'",
    ):
        adopt(checkpoint, tmp_path, head)
    assert not marker.exists()
    with pytest.raises(InputError, match="model.heads.classifier._partial_ is a Hydra option"):
        adopt(checkpoint, tmp_path, {**CLASSIFIER, "num_classes": 2, "_partial_": True})


def test_init_from_adopts_no_string_the_run_config_would_resolve(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_VALUE", "leaked")
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose("train", ["experiment=shakespeare", "run_dir=/unused"])
    escaped = {**CLASSIFIER, "labels": ["\\${oc.env:SECRET_VALUE}", "b"]}
    OmegaConf.update(cfg, "model.heads.classifier", escaped, force_add=True)
    resolved = OmegaConf.to_container(cfg, resolve=True)["model"]["heads"]["classifier"]
    assert resolved["labels"][0] == "${oc.env:SECRET_VALUE}"  # the run config keeps it, but
    assert instantiate(cfg.model.heads.classifier).labels[0] == "leaked"  # Hydra resolves twice
    for label in ["${oc.env:SECRET_VALUE}", "\\${oc.env:HOME}", "a ${x} b", "???"]:
        with pytest.raises(
            InputError,
            match=r"stores .* at config key model.heads.classifier.labels\[0\]; init_from",
        ):
            adopt(checkpoint, tmp_path, {**CLASSIFIER, "labels": [label, "b"]})
    cfg = adopt(checkpoint, tmp_path, {**CLASSIFIER, "labels": ["$x", "{y}"]})
    assert instantiate(cfg.model.heads.classifier).labels == ["$x", "{y}"]


def test_init_from_builds_classes_only_the_run_trusts(checkpoint, tmp_path):
    head = {"_target_": "collections.OrderedDict", "a": 1}
    with pytest.raises(InputError, match="names 'collections.OrderedDict', which is not"):
        adopt(checkpoint, tmp_path, head)
    cfg = adopt(checkpoint, tmp_path, head, "trust=[collections.OrderedDict]")
    assert cfg.model.heads.classifier._target_ == "collections.OrderedDict"
