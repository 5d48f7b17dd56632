"""Shared fixtures: a byte-level vocabulary and a small corpus, so tests need no prepared data."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tiktoken
import torch
from PIL import Image

from multimodal.checkpoint import build_model
from multimodal.model import MultimodalModel
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.text import TextTokenizer
from multimodal.tokenizers.vocab import GPT4_PATTERN, export_vocab, with_specials, write_ranks
from multimodal.transformer import Transformer


def pytest_configure(config):
    """Runs that pick their threads (`threads: auto`) take one too, whatever the machine's load,
    so results do not depend on it."""
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(autouse=True)
def one_thread():
    """Tests use tiny models: one torch thread is fastest for them, and fair to a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CORPUS = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
)


def byte_ranks() -> dict[bytes, int]:
    """The 256 single bytes plus a few merges: the smallest real byte-level BPE vocabulary."""
    ranks = {bytes([i]): i for i in range(256)}
    for token in [b"th", b"the", b" t", b"to", b" to", b"be", b" be"]:
        ranks[token] = len(ranks)
    return ranks


@pytest.fixture(scope="session")
def byte_encoding() -> tiktoken.Encoding:
    ranks = byte_ranks()
    return tiktoken.Encoding(
        name="bytes",
        pat_str=GPT4_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=with_specials(ranks),
    )


@pytest.fixture(scope="session")
def rank_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vocab") / "bytes.tiktoken"
    write_ranks(byte_ranks(), path)
    return path


@pytest.fixture
def corpus_root(tmp_path) -> Path:
    """A data root laid out as `mm-data prepare` writes it: text/shakespeare/*.txt."""
    folder = tmp_path / "text" / "shakespeare"
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"play{i}.txt").write_text(CORPUS * 20, encoding="utf-8")
    return tmp_path


def plain_model_config(
    encoding,
    modalities=("image",),
    heads=("lm", "classifier"),
    context=128,
    n_layers=2,
    labels=("cat", "dog", "owl"),
    ctc_vocab=" abc",
    max_seconds=2.0,
    d_model=32,
) -> dict:
    """A small text + `modalities` model config with `heads`, plain as a checkpoint stores it."""
    tokenizers = {
        "text": {
            "_target_": "multimodal.tokenizers.text.TextTokenizer",
            "d_model": d_model,
            "vocab": export_vocab(encoding),
        },
        "image": {
            "_target_": "multimodal.tokenizers.image.ImageTokenizer",
            "d_model": d_model,
            "patch_size": 4,
            "channels": 1,
        },
        "audio": {
            "_target_": "multimodal.tokenizers.audio.AudioTokenizer",
            "d_model": d_model,
            "max_seconds": max_seconds,
        },
    }
    all_heads = {
        "lm": {"_target_": "multimodal.tasks.lm_head.LMHead", "tie_to": "text"},
        "classifier": {
            "_target_": "multimodal.tasks.classifier_head.ClassifierHead",
            "d_model": d_model,
            "labels": list(labels),
        },
        "ctc": {
            "_target_": "multimodal.tasks.ctc_head.CTCHead",
            "d_model": d_model,
            "vocab": ctc_vocab,
        },
    }
    return {
        "_target_": "multimodal.model.MultimodalModel",
        "context_length": context,
        "backbone": {
            "_target_": "multimodal.transformer.Transformer",
            "d_model": d_model,
            "n_layers": n_layers,
            "n_heads": 4,
        },
        "tokenizers": {m: tokenizers[m] for m in ("text", *modalities)},
        "heads": {h: all_heads[h] for h in heads},
    }


def save_checkpoint(path, config: dict, seed=0, head_std=0.5) -> Path:
    """A checkpoint as mm-train writes it, with random (not zero) head weights."""
    torch.manual_seed(seed)
    model = build_model(config["model"])
    for p in model.heads.parameters():
        torch.nn.init.normal_(p, std=head_std)
    state = {"model." + k: v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "config": config}, path)
    return path


@pytest.fixture
def checkpoint(byte_encoding):
    """`checkpoint(path, run_config={}, head_std=0.5, **model)`: write a small model's checkpoint.

    `model` keywords go to `plain_model_config`; `run_config` adds keys beside "model".
    """

    def write(path, run_config=None, head_std=0.5, **model):
        config = {"model": plain_model_config(byte_encoding, **model), **(run_config or {})}
        return save_checkpoint(path, config, head_std=head_std)

    return write


def make_lm(encoding, d_model=32, n_layers=2, n_heads=4, context_length=128, seed=0):
    torch.manual_seed(seed)
    return MultimodalModel(
        {"text": TextTokenizer(d_model, encoding=encoding)},
        Transformer(d_model, n_layers, n_heads),
        {"lm": LMHead()},
        context_length=context_length,
    ).eval()


@pytest.fixture
def tiny_lm(byte_encoding) -> MultimodalModel:
    return make_lm(byte_encoding)


WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digit_image(d: int, jitter: int = 0) -> np.ndarray:
    """A 28x28 gray image with a bright stripe whose row is set by digit `d`."""
    img = np.zeros((28, 28), np.uint8)
    img[2 * d + 3 : 2 * d + 5, jitter : 26 + jitter] = 255
    return img


def digit_tone(d: int, seconds: float = 0.2) -> np.ndarray:
    """A clip whose pitch is set by digit `d`."""
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * (300 + 150 * d) * t)).astype(np.float32)


@pytest.fixture
def demo_root(corpus_root) -> Path:
    """A data root laid out as `mm-data prepare` writes the text, MNIST and spoken digits (both
    sets), with small learnable stand-ins: digit images as a stripe at a row, spoken digits as
    pitches."""
    for split, per_class in (("train", 4), ("val", 1), ("test", 1)):
        for d in range(10):
            for i in range(per_class):
                path = corpus_root / "images" / "mnist5k" / split / str(d) / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(digit_image(d, jitter=i % 2)).save(path)
        for speech_set in ("spoken_digits", "spoken_words"):
            folder = corpus_root / "speech" / speech_set / split
            folder.mkdir(parents=True)
            rows = []
            for d in range(10):
                for i in range(per_class):
                    name = f"{d}_{i}.wav"
                    sf.write(folder / name, digit_tone(d, 0.2 + 0.04 * i), 16000)
                    rows.append({"audio": name, "text": WORDS[d]})
            (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return corpus_root


@pytest.fixture
def lm_config(corpus_root, rank_file, tmp_path):
    """`lm_config(*overrides)`: experiment=shakespeare composed for a tiny model on the small
    corpus, run folder `tmp_path / "run"`, no progress bar, samples or TensorBoard."""
    from hydra import compose, initialize_config_module

    def make(*overrides):
        with initialize_config_module("multimodal.conf", version_base="1.3"):
            return compose(
                "train",
                [
                    "experiment=shakespeare",
                    f"data_root={corpus_root}",
                    f"run_dir={tmp_path / 'run'}",
                    f"model.tokenizers.text.vocab={rank_file}",
                    "model.backbone.d_model=32",
                    "model.backbone.n_layers=1",
                    "model.context_length=64",
                    "data.block_size=64",
                    "data.batch_size=8",
                    "trainer.val_check_interval=null",
                    "trainer.limit_val_batches=1",
                    "~callbacks.progress",
                    "+trainer.enable_progress_bar=false",
                    "~callbacks.samples",
                    "~callbacks.loss_curve",
                    "loggers=[csv]",
                    *overrides,
                ],
            )

    return make
