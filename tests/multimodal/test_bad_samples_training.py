"""Bad files met while training: skipped and reported exactly, or stopping the run naming them.

About 5% of each modality's files are broken: a NUL-only text file (found when the text is
read), and images and clips that are not decoded at setup, so DataLoader workers meet them.
"""

import json
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile as sf
import torch
from hydra import compose, initialize_config_module
from omegaconf import open_dict
from PIL import Image
from torch.utils.data import DataLoader

from multimodal.cli.errors import one_line_errors
from multimodal.data.skipping import CollateGood, Skipped
from multimodal.example import Example
from multimodal.segment import Segment
from multimodal.tasks.language_modeling import LanguageModeling
from multimodal.tasks.module import MultimodalModule
from multimodal.tasks.schedule import warmup_cosine
from multimodal.train import train

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def png(path: Path, digit: int) -> Path:
    img = np.zeros((28, 28), np.uint8)
    img[2 * digit + 3 : 2 * digit + 5, 2:26] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def wav(path: Path, digit: int) -> Path:
    t = np.arange(3200) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * (300 + 150 * digit) * t)).astype(np.float32), 16000)
    return path


def broken_data(root: Path) -> dict[str, list[Path]]:
    """Text, images and clips with a few broken files; stage -> the broken files met there."""
    text = root / "text" / "shakespeare"
    text.mkdir(parents=True)
    for i in range(19):
        (text / f"play{i:02d}.txt").write_text("To be, or not to be.\n")
    nul = text / "play19.txt"
    nul.write_bytes(b"\x00" * 64)

    images = root / "images" / "mnist5k"
    for split, per_class in (("train", 2), ("val", 1), ("test", 1)):
        for d in range(10):
            for i in range(per_class):
                png(images / split / str(d) / f"{i}.png", d)
    garbage = images / "train" / "3" / "1.png"  # in place of a good one: 20 images, 20 clips
    garbage.write_bytes(b"these bytes are no image")
    cut = images / "val" / "5" / "cut.png"
    cut.write_bytes((images / "val" / "5" / "0.png").read_bytes()[:60])
    (images / "test" / "7" / "noise.png").write_bytes(bytes(range(256)) * 4)

    speech = root / "speech" / "spoken_digits"
    for split, per_class in (("train", 2), ("val", 1), ("test", 1)):
        folder = speech / split
        folder.mkdir(parents=True)
        rows = []
        for d in range(10):
            for i in range(per_class):
                rows.append({"audio": wav(folder / f"{d}_{i}.wav", d).name, "text": WORDS[d]})
        (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    short = speech / "train" / "4_1.wav"
    short.write_bytes(short.read_bytes()[:3000])  # the header promises 3,200 samples
    noise = speech / "val" / "6_0.wav"
    noise.write_bytes(b"RIFF" + bytes(100))
    return {
        "setup": [nul],
        "train": [garbage, short],
        "val": [cut, noise],
        "test": [images / "test" / "7" / "noise.png"],
    }


def config(root, rank_file, tmp_path, policy="skip", *overrides):
    data = [
        f"tasks.{task}.data.{key}={value}"
        for task in ("lm", "digit", "transcribe")
        for key, value in (("on_bad_sample", policy), ("num_workers", 0 if task == "lm" else 2))
    ]
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose(
            "train",
            [
                "experiment=multitask_demo",
                f"data_root={root}",
                f"run_dir={tmp_path / 'run'}",
                f"model.tokenizers.text.vocab={rank_file}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=1",
                "model.context_length=64",
                "model.tokenizers.audio.max_seconds=0.5",
                "tasks.lm.data.block_size=32",
                "tasks.digit.data.verify=false",
                "tasks.transcribe.data.verify=false",
                "tasks.transcribe.task.max_new_tokens=4",
                *data,
                "mix_batch_size=12",
                "trainer.max_epochs=1",
                "trainer.max_steps=-1",
                "trainer.max_time=null",
                "trainer.val_check_interval=null",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "~callbacks.loss_curve",
                "~loggers.tensorboard",
                *overrides,
            ],
        )
    with open_dict(cfg):  # three tasks, one per modality
        del cfg.tasks["caption"], cfg.tasks["same"]
    return cfg


def test_skipped_files_are_reported_exactly_and_counted_in_the_checkpoint(
    tmp_path, rank_file, capsys
):
    planted = broken_data(tmp_path)
    train(config(tmp_path, rank_file, tmp_path))
    out = capsys.readouterr().out.splitlines()
    header, *lines = out[out.index("skipped 6 bad sample(s): setup 1, train 2, val 2, test 1") :]
    files = [(stage, path) for stage, paths in planted.items() for path in paths]
    named = [(s, p) for line in lines for s, p in files if f"  {s}: " in line and str(p) in line]
    assert len(lines) == len(files) and sorted(named) == sorted(files)  # each once, no other

    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    stored = torch.load(last, weights_only=True)
    assert stored["bad_samples"]["count"] == 5  # the test split is read after the last save
    assert stored["bad_samples"]["stages"] == {"setup": 1, "train": 2, "val": 2}

    # a resumed run counts on from the checkpoint: every epoch meets the bad files again, the
    # setup scan is redone rather than counted twice
    train(
        config(tmp_path, rank_file, tmp_path, "skip", f"ckpt_path={last}", "trainer.max_epochs=2")
    )
    out = capsys.readouterr().out
    assert "skipped 10 bad sample(s): setup 1, train 4, val 4, test 1" in out
    lines = out[out.index("skipped 10") :].splitlines()[1:]
    assert [line.endswith(" (2 times)") for line in lines] == [False, True, True, True, True, False]
    assert torch.load(last, weights_only=True)["bad_samples"]["count"] == 9


def test_raise_policy_stops_at_the_first_bad_file_with_one_sentence(tmp_path, rank_file, capsys):
    planted = broken_data(tmp_path)
    planted["setup"][0].write_text("To be.\n")
    with pytest.raises(SystemExit) as stop, one_line_errors():  # as mm-train runs it
        train(config(tmp_path, rank_file, tmp_path, policy="raise"))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    garbage, short = planted["train"]
    assert re.fullmatch(
        rf"error: (image file {garbage} is not a readable image; expected [^\n]*"
        rf"|manifest \S+ line 10: audio file {short} is truncated[^\n]*)\n",
        err,
    )


class Weights(pl.Callback):
    """The model's weights and AdamW's step count after every training step."""

    def __init__(self):
        self.after = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        weights = torch.cat([p.detach().flatten() for p in module.model.parameters()])
        steps = {float(s["step"]) for s in trainer.optimizers[0].state.values()}
        self.after.append((weights.clone(), steps))


def test_a_step_of_only_bad_samples_trains_nothing_and_the_run_goes_on(tiny_lm, byte_encoding):
    window = Example([Segment("text", torch.tensor(byte_encoding.encode("To be, or not to be")))])
    items = [window, window, Skipped("a.txt is empty"), Skipped("b.txt is empty"), window, window]
    task = LanguageModeling()
    collate_fn = CollateGood(task.collator(tiny_lm.preprocessors, tiny_lm.context_length), True)
    loader = DataLoader(items, batch_size=2, collate_fn=collate_fn)
    adamw = partial(torch.optim.AdamW, lr=1e-2)
    module = MultimodalModule(tiny_lm, {"lm": task}, adamw, partial(warmup_cosine, warmup_steps=1))
    weights = Weights()
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        callbacks=[weights],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader)
    (first, steps1), (second, steps2), (third, steps3) = weights.after
    assert torch.equal(first, second) and steps1 == steps2 == {1.0}  # weights and moments kept
    assert not torch.equal(second, third) and steps3 == {2.0}
    assert module.bad_samples.counts() == {"train": 2}


def test_two_processes_sum_what_they_skipped_and_none_waits_forever(tmp_path):
    """trainer=ddp on CPU; one image per batch, so a process meets batches of only bad samples
    while the other trains."""
    images = tmp_path / "images" / "mnist5k"
    for split, per_class in (("train", 2), ("val", 1)):
        for d in range(10):
            for i in range(per_class):
                png(images / split / str(d) / f"{i}.png", d)
    bad = [images / "train" / "1" / "bad.png", images / "train" / "8" / "bad.png"]
    bad += [images / "val" / "4" / "bad.png"]
    for path in bad:
        path.write_bytes(b"junk")
    run = tmp_path / "run"
    out = subprocess.run(
        [
            Path(sys.executable).parent / "mm-train",
            "experiment=mnist",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            f"data_root={tmp_path}",
            f"hydra.run.dir={run}",
            "model.backbone.d_model=32",
            "model.backbone.n_layers=1",
            "data.verify=false",
            "data.on_bad_sample=skip",
            "data.batch_size=1",
            "data.num_workers=1",
            "trainer.max_epochs=1",
            "~callbacks.progress",
            "+trainer.enable_progress_bar=false",
            "~loggers.tensorboard",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "skipped 3 bad sample(s): train 2, val 1" in out.stdout
    stored = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["bad_samples"]
    assert stored["stages"] == {"train": 2, "val": 1}
    assert sorted(str(p) for p in bad) == sorted(r.split()[2] for _, r in stored["reasons"])
