"""trainer=fsdp_cpu: the multi-task model trained fully sharded (FSDP2) in two CPU processes
(gloo) through the console script. Its checkpoint is one full file: one process reads it back
(`multimodal.load`, `mm-infer`) with the logits the sharded model gave when training ended, and
a run resumed from it ends with the weights of a sharded run never stopped, bit for bit, and of
a data-parallel (DDP) one up to float rounding."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from torch import Tensor

import multimodal
from multimodal.cli.infer import run as infer
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.sharding import FullyShardStrategy, shard

MM_TRAIN = Path(sys.executable).parent / "mm-train"
HERE = Path(__file__).parent  # the runs import `LogitsProbe` from this file


def probe_logits(model: MultimodalModel, image: str) -> dict[str, Tensor]:
    """LM logits (1, T, V) of an image followed by words, and digit logits (1, 10) of the image
    as `classify` computes them."""
    seg = model.tokenizer("image").prepare(image)
    words = model.collate([[seg, model.tokenizer("text").prepare("It is")]])
    alone = model.collate([[seg]])
    digit = model.head("digit")
    with torch.no_grad():
        return {
            "lm": model.head("lm")(model(words, mask="prefix")),
            "digit": digit(model(alone, mask="bidirectional", keep=digit.columns(alone)), alone),
        }


class LogitsProbe(pl.Callback):
    """When training ends, every process runs the sharded model on one input (each unit's
    forward gathers its weights from all of them); rank 0 saves the logits to `out`, with
    the numbers of the model's weights it holds and of the whole model's."""

    def __init__(self, image: str, out: str):
        self.image, self.out = image, out

    def on_train_end(self, trainer, pl_module) -> None:
        params = list(pl_module.model.parameters())  # DTensors: this process's shard of each
        sizes = {"held": sum(p.to_local().numel() for p in params)}
        sizes["whole"] = sum(p.numel() for p in params)
        pl_module.eval()
        logits = probe_logits(pl_module.model, self.image)
        if trainer.is_global_zero:
            torch.save({**logits, **{k: torch.tensor(v) for k, v in sizes.items()}}, self.out)


def train(root: Path, rank_file: Path, run: Path, *overrides: str, trainer="fsdp_cpu") -> str:
    """mm-train's output for experiment=multitask_demo shrunk, on two CPU processes.
    Every split has at least two batches per task: each process needs one."""
    done = subprocess.run(
        [
            MM_TRAIN,
            "experiment=multitask_demo",
            f"trainer={trainer}",
            "trainer.accelerator=cpu",
            f"data_root={root}",
            f"hydra.run.dir={run}",
            f"model.tokenizers.text.vocab={rank_file}",
            "threads=1",
            "model.backbone.d_model=32",
            "model.backbone.n_layers=1",
            "model.context_length=64",
            "model.tokenizers.audio.max_seconds=0.5",
            "tasks.lm.data.block_size=32",
            "tasks.same.data.pairs_per_clip=4",
            "tasks.transcribe.task.max_new_tokens=4",
            "mix_batch_size=20",
            *[f"tasks.{t}.data.batch_size=4" for t in ("digit", "caption", "transcribe", "same")],
            "tasks.lm.data.batch_size=8",
            "trainer.max_time=null",
            "trainer.val_check_interval=2",
            "trainer.limit_val_batches=1",
            "scheduler=constant",  # the same lr at each step whatever max_steps is
            "scheduler.warmup_steps=2",
            "~callbacks.progress",
            "+trainer.enable_progress_bar=false",
            "~callbacks.loss_curve",
            "~loggers.tensorboard",
            *overrides,
        ],
        cwd=run.parent,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return log


def weights(ckpt: Path) -> dict[str, Tensor]:
    return torch.load(ckpt, weights_only=True)["state_dict"]


def test_sharded_training_reloads_in_one_process_and_resumes(demo_root, rank_file, tmp_path):
    run, image = tmp_path / "run", demo_root / "images" / "mnist5k" / "test" / "3" / "0.png"
    probe = [
        "+callbacks.probe._target_=test_fsdp.LogitsProbe",
        f"+callbacks.probe.image={image}",
        f"+callbacks.probe.out={tmp_path / 'held.pt'}",
    ]
    log = train(demo_root, rank_file, run, "trainer.max_steps=2", *probe)
    assert "distributed_backend=gloo" in log
    assert "All distributed processes registered. Starting with 2 processes" in log
    assert "FSDPMultimodalModel" in log  # the model summary names the sharded class
    ckpt = run / "checkpoints" / "last.ckpt"
    stored = torch.load(ckpt, weights_only=True)
    assert stored["global_step"] == 2
    assert all(type(t) is Tensor for t in stored["state_dict"].values())  # full, not DTensors
    model = multimodal.load(ckpt).model
    assert set(stored["state_dict"]) == {f"model.{k}" for k in model.state_dict()}

    held = torch.load(tmp_path / "held.pt", weights_only=True)
    read = probe_logits(model, str(image))
    assert held["held"] < 0.6 * held["whole"]  # about half each: every weight is sharded
    assert torch.equal(read["lm"], held["lm"]) and torch.equal(read["digit"], held["digit"])
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose(
            "infer",
            [f"ckpt={ckpt}", f"inputs=[{image}]", "head_name=digit", "labels=10", "output=json"],
        )
    (record,) = infer(cfg)
    probs, labels = held["digit"][0].softmax(-1).tolist(), model.head("digit").labels
    assert {x["label"]: x["probability"] for x in record["result"]} == dict(zip(labels, probs))

    # sharded, stopped at step 2 and resumed to 4, or sharded to 4 at once: the same weights,
    # bit for bit; data-parallel to 4 at once: the same up to float rounding (the strategies
    # sum in other orders, likely the clipping norm over shards; on some CPUs that changes
    # last bits, which AdamW carries to about 1e-8)
    no_test = ["trainer.limit_val_batches=0", "+trainer.limit_test_batches=0"]
    train(demo_root, rank_file, run, "trainer.max_steps=4", "ckpt_path=last", *no_test)
    assert torch.load(ckpt, weights_only=True)["global_step"] == 4
    resumed = weights(ckpt)

    def straight(name: str, trainer: str) -> dict[str, Tensor]:
        train(
            demo_root, rank_file, tmp_path / name, "trainer.max_steps=4", *no_test, trainer=trainer
        )
        found = weights(tmp_path / name / "checkpoints" / "last.ckpt")
        assert found.keys() == resumed.keys()
        return found

    for k, w in straight("sharded", "fsdp_cpu").items():
        assert torch.equal(resumed[k], w), k
    for k, w in straight("whole", "ddp").items():
        torch.testing.assert_close(resumed[k], w, rtol=1e-5, atol=1e-6, msg=k)
    assert not torch.equal(
        resumed["model.heads.digit.fc.weight"], stored["state_dict"]["model.heads.digit.fc.weight"]
    )


def test_shard_units_that_are_no_module_classes_or_absent_are_named():
    with pytest.raises(InputError, match=r"config key trainer.strategy.units\[1\] is 'Block'"):
        FullyShardStrategy(units=[torch.nn.Linear, "Block"])
    with pytest.raises(
        InputError, match=r"units: the model has no \['torch.nn.modules.rnn.LSTM'\]"
    ):
        shard(torch.nn.Linear(2, 2), (torch.nn.LSTM,), mesh=None)
