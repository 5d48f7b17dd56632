"""Classification task: loss and metrics against references, learning, train() end to end,
checkpoints that classify new images of unseen sizes, and mm-infer."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_module
from PIL import Image

import multimodal
from multimodal.cli.infer import run as infer_cli
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.inference import Predictor
from multimodal.model import MultimodalModel
from multimodal.tasks.classification import Classification
from multimodal.tasks.classifier_head import ClassifierHead
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.train import train
from multimodal.transformer import Transformer


def level_image(
    label: int, height: int = 28, width: int = 28, seed: int = 0, classes: int = 10
) -> np.ndarray:
    """Noise around a gray level that encodes the class, at any size; uint8 (H, W)."""
    rng = np.random.default_rng(seed)
    level = 255 * (label + 0.5) / classes
    spread = 255 / classes / 6
    return np.clip(level + rng.uniform(-spread, spread, (height, width)), 0, 255).astype(np.uint8)


def write_tree(root: Path, per_split: dict[str, int], classes=range(10)) -> Path:
    for split, n in per_split.items():
        for label in classes:
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(level_image(label, seed=i)).save(folder / f"{i}.png")
    return root


def small_model(num_classes=3, pooling="mean", class_token=False, seed=0) -> MultimodalModel:
    torch.manual_seed(seed)
    return MultimodalModel(
        {"image": ImageTokenizer(32, patch_size=4, channels=1, class_token=class_token)},
        Transformer(32, 2, 4),
        {"classifier": ClassifierHead(32, num_classes, pooling=pooling)},
    )


def examples(tok, labels, seed=0):
    """12 x 12 images (9 patches) of 3 classes."""
    return [Example([tok.prepare(level_image(y, 12, 12, seed, 3))], target=y) for y in labels]


def test_loss_and_metrics_match_references():
    model = small_model().eval()
    task = Classification(num_classes=3, label_smoothing=0.1)
    batch = task.collate(examples(model.tokenizer("image"), [0, 1, 2, 2]), model.tokenizers, 256)
    with torch.no_grad():
        loss = task.step(model, batch, "val")
        logits = task.logits(model, batch)
    y = torch.tensor([0, 1, 2, 2])
    torch.testing.assert_close(loss, F.cross_entropy(logits, y, label_smoothing=0.1))
    out = task.metrics["val"].compute()
    pred = logits.argmax(-1)
    assert out["classify/val_acc"] == (pred == y).float().mean()
    for t in range(3):
        for p in range(3):
            assert out[f"classify/val_confusion_{t}_{p}"] == ((y == t) & (pred == p)).sum()


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_training_steps_reduce_the_loss(pooling):
    model = small_model(pooling=pooling, class_token=pooling == "cls").train()
    task = Classification(num_classes=3)
    tok = model.tokenizer("image")
    batch = task.collate(
        [ex for s in range(4) for ex in examples(tok, [0, 1, 2], seed=s)], model.tokenizers, 256
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = task.step(model, batch, "train")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(np.log(3), abs=1e-4)  # zero-initialized head: uniform
    assert losses[-1] < 0.3 * losses[0]


def test_bad_targets_and_pooling_are_named():
    model = small_model(pooling="cls", class_token=False)
    task = Classification(num_classes=3)
    tok = model.tokenizer("image")
    seg = tok.prepare(level_image(0))
    with pytest.raises(
        InputError, match=r"a\.png has target 7; expected a class index in \[0, 3\)"
    ):
        task.collate([Example([seg], target=7, meta={"path": "a.png"})], model.tokenizers, 256)
    with pytest.raises(InputError, match="sample 0 has target 'cat'"):
        task.collate([Example([seg], target="cat")], model.tokenizers, 256)
    batch = task.collate([Example([seg], target=1)], model.tokenizers, 256)
    with pytest.raises(InputError, match="class_token: false"):
        task.step(model, batch, "train")
    with pytest.raises(InputError, match="label_smoothing must lie in"):
        Classification(num_classes=3, label_smoothing=1.5)


def test_classify_returns_sorted_top_k_for_any_size():
    model = Predictor(small_model())
    out = model.classify([level_image(0), level_image(1, 56, 40), torch.rand(3, 9, 9)], top_k=5)
    assert [len(top) for top in out] == [3, 3, 3]  # top_k clamps to the 3 classes
    for top in out:
        probs = [p for _, p in top]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)
    with pytest.raises(InputError, match="no 'lm' head"):
        model.classify([level_image(0)], head="lm")


def mnist_config(root: Path, run_dir: Path, *overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=mnist",
                f"data_root={root}",
                f"run_dir={run_dir}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=1",
                "model.tokenizers.image.patch_size=7",
                "model.tokenizers.image.augment=[]",
                "data.batch_size=20",
                "trainer.max_epochs=16",
                "optim.lr=1e-2",
                "scheduler.warmup_steps=2",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "~loggers.tensorboard",
                *overrides,
            ],
        )


def test_mnist_experiment_trains_and_classifies_new_sizes(tmp_path, capsys):
    root = tmp_path / "data"
    write_tree(root / "images" / "mnist5k", {"train": 20, "val": 1, "test": 2})
    results = train(mnist_config(root, tmp_path / "run"))
    assert results["classify/test_acc"] >= 0.9  # 10 classes: chance is 0.1
    assert sum(results[f"classify/test_confusion_{t}_{t}"] for t in range(10)) == pytest.approx(
        20 * results["classify/test_acc"]
    )

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    model = multimodal.load(ckpt)
    tall = tmp_path / "tall.png"  # a size never seen in training: 56 x 40
    Image.fromarray(level_image(3, 56, 40)).save(tall)
    top = model.classify([tall], top_k=2)[0]
    assert len(top) == 2 and top[0][0] == "3"

    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose("infer", [f"ckpt={ckpt}", f"inputs=[{tall}]", "labels=3"])
    infer_cli(cfg)
    printed = capsys.readouterr().out.splitlines()[-1]
    assert printed.startswith(f"{tall}: 3 ") and printed.count(", ") == 2


def test_classify_cli_names_missing_keys(tmp_path):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose("infer", [f"inputs=[{tmp_path / 'a.png'}]", "mode=classify"])
        with pytest.raises(InputError, match="config key ckpt is not set"):
            infer_cli(cfg)
        cfg = compose("infer", [f"ckpt={tmp_path / 'x.ckpt'}", "inputs=[]", "mode=classify"])
        with pytest.raises(InputError, match="config key inputs is an empty list"):
            infer_cli(cfg)
        cfg = compose("infer", [f"ckpt={tmp_path / 'x.ckpt'}", "inputs=[a.png]", "mode=classify"])
        with pytest.raises(InputError, match="x.ckpt does not exist"):
            infer_cli(cfg)
        cfg = compose("infer", [f"ckpt={tmp_path / 'x.ckpt'}", "inputs=[a.png]", "labels=0"])
        with pytest.raises(InputError, match="config key labels must be a positive int, got 0"):
            infer_cli(cfg)
