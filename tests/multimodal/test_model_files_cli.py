"""Model files read by the command-line tools and by training: one line and exit status 2 for a
bad file, a trust list for classes the user names, and resume from local files only."""

import os
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module

import multimodal
from multimodal.checkpoint import load_model, local_checkpoint
from multimodal.cli.export import run as export_run
from multimodal.cli.infer import run as infer_run
from multimodal.errors import InputError
from multimodal.train import train

from .test_model_files import (
    hostile,
    malformed_checkpoints,
    malformed_exports,
    stored,
    write_ckpt,
    write_good,
)
from .test_registry import numpy_payload
from .test_train import config


@pytest.fixture
def good(tmp_path, checkpoint):
    return write_good(tmp_path, checkpoint)


def test_resume_takes_a_local_checkpoint_file_only(good, tmp_path):
    assert local_checkpoint(None) is None
    assert local_checkpoint(good[0]) == str(good[0])
    for url in ["http://example.com/m.ckpt", "https://x/y", "s3://bucket/m.ckpt", "file:///m.ckpt"]:
        with pytest.raises(InputError, match=f"ckpt_path {url} is a URL; resuming takes a local"):
            local_checkpoint(url)
    with pytest.raises(InputError, match="ckpt_path .*missing.ckpt is not a checkpoint file"):
        local_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(InputError, match="is not a checkpoint file"):
        local_checkpoint(tmp_path)


def test_resume_in_train_refuses_a_url_and_loads_local_files_weights_only(
    good, corpus_root, rank_file, tmp_path, monkeypatch
):
    calls = []
    monkeypatch.setattr(pl.Trainer, "fit", lambda self, *a, **kw: calls.append(kw))
    monkeypatch.setattr(pl.Trainer, "test", lambda self, *a, **kw: [])
    url = "http://example.com/last.ckpt"
    with pytest.raises(InputError, match=f"ckpt_path {url} is a URL"):
        train(config(corpus_root, rank_file, tmp_path, f"ckpt_path={url}"))
    assert calls == []  # Lightning never saw it
    train(config(corpus_root, rank_file, tmp_path, f"ckpt_path={good[0]}"))
    assert [(c["ckpt_path"], c["weights_only"]) for c in calls] == [(str(good[0]), True)]


def test_every_cli_that_reads_model_files_raises_one_input_error(good, tmp_path):
    bad = {**malformed_checkpoints(tmp_path, good), **malformed_exports(tmp_path, good)}
    runs = [
        (infer_run, "infer", f"ckpt={bad['zero bytes'][0]}", "inputs=[a.png]", "mode=classify"),
        (infer_run, "infer", f"ckpt={bad['deep nesting'][0]}", "inputs=[hi]", "mode=generate"),
        (infer_run, "infer", f"ckpt={bad['config a list'][0]}", "inputs=[a.wav]"),
        (infer_run, "infer", f"ckpt={bad['config not JSON'][0]}", "inputs=[hi]"),
        (
            export_run,
            "export",
            f"ckpt={bad['wrong dtype'][0]}",
            f"out={tmp_path / 'x.safetensors'}",
        ),
    ]
    for run, name, *overrides in runs:
        with initialize_config_module("multimodal.conf", version_base="1.3"):
            cfg = compose(name, overrides)
        with pytest.raises(InputError, match=f"{overrides[0].removeprefix('ckpt=')}"):
            run(cfg)


def test_the_cli_trust_list_lets_a_stored_config_name_a_class(good, tmp_path, capsys):
    flip = {"_target_": "torchvision.transforms.v2.RandomHorizontalFlip"}
    spec = {"_target_": "torchvision.transforms.v2.Compose", "transforms": [flip]}  # not ours
    path, _ = hostile(good, tmp_path, lambda m: m["tokenizers"]["image"].update(augment=[spec]))
    run = [f"ckpt={path}", "inputs=[hi]", "mode=generate", "max_new_tokens=2"]
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        refused = compose("infer", run)
        trusted = compose("infer", [*run, "trust=[torchvision.transforms.v2.Compose]"])
        wrong = compose("infer", [*run, "trust=[builtins.print]"])
    with pytest.raises(InputError, match=r"augment\[0\] names 'torchvision.transforms.v2.Compose'"):
        infer_run(refused)
    [record] = infer_run(trusted)
    assert record["mode"] == "generate" and isinstance(record["result"], str)
    (compose_,) = (
        multimodal.load(path, allow=["torchvision.transforms.v2.Compose"])
        .model.preprocessor("image")
        .augment
    )
    assert type(compose_.transforms[0]).__name__ == "RandomHorizontalFlip"
    with pytest.raises(InputError, match="trust entry 'builtins.print' is not a class"):
        infer_run(wrong)


def test_trusted_classes_are_imported_off_the_meta_device(good, tmp_path, monkeypatch):
    (tmp_path / "user_heads.py").write_text(
        "import torch\n"
        "TABLE = torch.arange(3.0)  # made when the module is imported\n"
        "class Head(torch.nn.Module):\n"
        "    def __init__(self, d_model):\n"
        "        super().__init__()\n"
        "        self.proj = torch.nn.Linear(d_model, 3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config, state = stored(good[0])
    config["model"]["heads"]["user"] = {"_target_": "user_heads.Head", "d_model": 32}
    user = {
        "model.heads.user.proj.weight": torch.ones(3, 32),
        "model.heads.user.proj.bias": torch.ones(3),
    }
    path = write_ckpt(tmp_path / "user.ckpt", config, {**state, **user})
    model = load_model(path, allow=["user_heads.Head"])
    assert torch.equal(model.heads["user"].proj.bias, torch.ones(3))
    assert sys.modules["user_heads"].TABLE.device.type == "cpu"


def cli(module: str, cwd, *args) -> subprocess.Popen:
    cwd.mkdir(exist_ok=True)
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    cmd = [sys.executable, "-m", f"multimodal.cli.{module}", *args]
    return subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_the_clis_say_one_line_and_exit_2(good, tmp_path):
    marker = tmp_path / "PWNED"
    payload = numpy_payload(marker)
    evil, _ = hostile(good, tmp_path, lambda m: m["heads"]["classifier"].update(dropout=payload))
    runs = {
        "infer": [f"ckpt={evil}", "inputs=[hello]"],
        "export": [f"ckpt={evil}", f"out={tmp_path / 'copy.safetensors'}"],
        "train": [
            "experiment=shakespeare",
            f"init_from={evil}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
    }
    started = {module: cli(module, tmp_path / module, *args) for module, args in runs.items()}
    for module, process in started.items():
        _, stderr = process.communicate(timeout=300)
        lines = [line for line in stderr.strip().splitlines() if not line.startswith("Seed set")]
        assert process.returncode == 2, (module, stderr)
        assert len(lines) == 1 and "Traceback" not in stderr, (module, stderr)
        assert lines[0].startswith("error: ") and "names 'numpy.load'" in lines[0], lines
    assert not marker.exists() and not (tmp_path / "copy.safetensors").exists()
