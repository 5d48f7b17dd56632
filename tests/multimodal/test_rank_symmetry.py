"""trainer=ddp runs two CPU processes (gloo) through the console script, as users run it, and
every process does the same: the same forwards (here each block's forward is a collective, as a
sharded model's is), the same validation figures (the whole set's), and one printed summary."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch
import torch.distributed as dist
from hydra import compose, initialize_config_module

import multimodal
from multimodal.data.prepare_speech import word_ranks
from multimodal.tasks.module import MultimodalModule
from multimodal.tokenizers.vocab import write_ranks
from multimodal.train import build_tasks

MM_TRAIN = Path(sys.executable).parent / "mm-train"
TONES = {"one": 300.0, "two": 700.0, "three": 1500.0}
# val is read shortest first, two clips a batch: rank 0 gets the two short clips, rank 1 the
# long one, so their transcripts have different room in the context and end at different steps,
# and the whole set's mean weighs rank 0's batch twice
SPLITS = {
    "train": ["one", "two", "three", "one two", "two three", "three one", "one one", "two"],
    "val": ["one", "two", "one two three"],
    "test": ["three", "two one", "one two three", "two"],
}


MODEL = [
    "experiment=spoken_digits",
    "model.backbone.d_model=32",
    "model.backbone.n_layers=1",
    "model.context_length=40",  # 30 new tokens after rank 0's val clips, 14 after rank 1's
    "model.tokenizers.audio.max_seconds=0.5",
    "data.batch_size=2",
]


def say(text: str, rate: int = 16000) -> np.ndarray:
    """Each word a 0.12 s tone with 0.04 s of silence after it: 8 audio tokens a word."""
    parts = []
    for word in text.split():
        t = np.arange(int(0.12 * rate)) / rate
        parts += [0.4 * np.sin(2 * np.pi * TONES[word] * t), np.zeros(int(0.04 * rate))]
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture
def speech_root(tmp_path) -> Path:
    """A data root laid out as `mm-data prepare` writes the spoken digits, in tone words."""
    speech = tmp_path / "speech" / "spoken_digits"
    for split, texts in SPLITS.items():
        (speech / split).mkdir(parents=True)
        rows = []
        for i, text in enumerate(texts):
            sf.write(speech / split / f"{i}.wav", say(text), 16000, subtype="PCM_16")
            rows.append(json.dumps({"audio": f"{i}.wav", "text": text}) + "\n")
        (speech / split / "manifest.jsonl").write_text("".join(rows))
    write_ranks(word_ranks(), speech / "words.tiktoken")
    return tmp_path


class ShardedForwards(pl.Callback):
    """Makes each block's forward a collective, as a sharded unit's (it gathers its weights from
    every process): every process sends how many block forwards it ran and whether in training,
    and all of them raise unless the others are at the same forward."""

    def __init__(self):
        self.count, self.hooked = 0, False

    def setup(self, trainer, pl_module, stage) -> None:
        if not self.hooked:
            for block in pl_module.model.backbone.blocks:
                block.register_forward_pre_hook(self.check)
            self.hooked = True

    def check(self, module, args) -> None:
        self.count += 1
        here = torch.tensor([self.count, int(module.training)])
        every = [torch.zeros_like(here) for _ in range(dist.get_world_size())]
        dist.all_gather(every, here)
        if any(not torch.equal(e, here) for e in every):
            seen = [e.tolist() for e in every]
            raise RuntimeError(f"processes at different (forward, training): {seen}")


class RankFigures(pl.Callback):
    """Writes this process's `callback_metrics` after each validation and test to
    `<out>/rank<R>.json`, with its count of block forwards."""

    def __init__(self, out: str):
        self.out, self.figures = Path(out), []

    def record(self, trainer) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        self.figures.append(metrics)
        forwards = next(c for c in trainer.callbacks if isinstance(c, ShardedForwards)).count
        path = self.out / f"rank{trainer.global_rank}.json"
        path.write_text(json.dumps({"figures": self.figures, "forwards": forwards}))

    def on_validation_end(self, trainer, pl_module) -> None:
        self.record(trainer)

    def on_test_end(self, trainer, pl_module) -> None:
        self.record(trainer)


def mm_train(args: list, cwd: Path, timeout: float) -> tuple[int, str]:
    """The console script in its own process group, killed whole (both ranks) on time out."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.Popen(
        [MM_TRAIN, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log = proc.communicate()[0]
        pytest.fail(f"mm-train did not end within {timeout} s (a process waits):\n{log[-3000:]}")
    return proc.returncode, log


def one_process_validation(root: Path, checkpoint: Path) -> dict[str, float]:
    """The validation figures of the checkpoint's weights over the whole val set, in one process."""
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose("train", [*MODEL, f"data_root={root}", f"run_dir={root / 'alone'}"])
    tasks, data, weights = build_tasks(cfg)
    module = MultimodalModule(multimodal.load(checkpoint).model, tasks, loss_weights=weights)
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    return trainer.validate(module, datamodule=data, verbose=False)[0]


def test_two_processes_decode_validate_and_report_as_one(speech_root, tmp_path):
    run, out = tmp_path / "run", tmp_path / "figures"
    out.mkdir()
    code, log = mm_train(
        [
            *MODEL,
            "trainer=ddp",
            "trainer.accelerator=cpu",
            f"data_root={speech_root}",
            f"hydra.run.dir={run}",
            "threads=1",
            "trainer.max_epochs=1",
            "~callbacks.progress",
            "+trainer.enable_progress_bar=false",
            "~loggers.tensorboard",
            "+callbacks.samples._target_=multimodal.callbacks.text_samples.TextSamples",
            "+callbacks.samples.prompts=[one]",
            "+callbacks.samples.max_new_tokens=4",
            "+callbacks.loss_curve._target_=multimodal.callbacks.loss_curve.LossCurve",
            "+callbacks.sharded._target_=test_rank_symmetry.ShardedForwards",
            "+callbacks.figures._target_=test_rank_symmetry.RankFigures",
            f"+callbacks.figures.out={out}",
        ],
        tmp_path,
        timeout=120,
    )
    assert code == 0, log[-4000:]
    assert "Starting with 2 processes" in log
    assert "sync_dist" not in log
    for once in ("--- samples before training ---", "--- samples after training ---"):
        assert log.count(once) == 1, once
    assert log.count("--- val_loss by step ---") == 1
    assert log.count("no bad samples") == 1
    assert log.count("'transcribe/val_wer'") == 1  # mm-train's summary line
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["forwards"] == ranks[1]["forwards"] > 0
    # one validation, then one test: each figure the same on both processes
    (val0, test0), (val1, test1) = ranks[0]["figures"], ranks[1]["figures"]
    # ... and the whole val set's, as one process finds it with the same (final) weights
    whole = one_process_validation(speech_root, run / "checkpoints" / "last.ckpt")
    for key in ("val_loss", "transcribe/val_loss", "transcribe/val_wer", "transcribe/val_cer"):
        assert val0[key] == val1[key] == pytest.approx(whole[key], rel=1e-5), key
    for key in ("test_loss", "transcribe/test_loss", "transcribe/test_wer"):
        assert test0[key] == test1[key], key
