"""train(cfg) end to end on a tiny corpus: learning happens, checkpoints rebuild, resume continues."""

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException

from multimodal.checkpoint import load_model
from multimodal.errors import InputError
from multimodal.generation import generate
from multimodal.train import train


def config(root, rank_file, tmp_path, *overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=shakespeare",
                f"data_root={root}",
                f"run_dir={tmp_path / 'run'}",
                f"model.tokenizers.text.vocab={rank_file}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=2",
                "model.context_length=64",
                "data.block_size=64",
                "data.batch_size=8",
                "trainer.max_steps=-1",
                "trainer.max_epochs=3",
                "trainer.val_check_interval=null",
                "optim.lr=3e-3",
                "trainer.limit_val_batches=2",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "scheduler.warmup_steps=5",
                "~callbacks.samples",
                "~loggers.tensorboard",
                *overrides,
            ],
        )


def test_language_model_learns_and_checkpoint_rebuilds(corpus_root, rank_file, tmp_path):
    cfg = config(corpus_root, rank_file, tmp_path)
    results = train(cfg)
    assert results["val_loss"] < 0.6 * torch.log(torch.tensor(261.0)).item()  # well below uniform
    assert "lm/val_perplexity" in results

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    model = load_model(ckpt)
    stored = torch.load(ckpt, weights_only=True)
    assert isinstance(stored["config"], dict) and stored["config"]["seed"] == 1337
    text = model.tokenizer("text")
    ids = generate(model, [[text.prepare("To be, or not")]], max_new_tokens=8, temperature=0)[0]
    assert len(ids) == 8

    # resume continues from the checkpoint's step rather than starting over
    steps = stored["global_step"]
    more = config(corpus_root, rank_file, tmp_path, f"ckpt_path={ckpt}", "trainer.max_epochs=4")
    train(more)
    assert torch.load(ckpt, weights_only=True)["global_step"] == steps * 4 // 3


def test_multirun_style_sweep_composes_each_size():
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        widths = [
            compose("train", [f"model={m}"]).model.backbone.d_model
            for m in ("tiny", "small", "base")
        ]
    assert widths == [128, 384, 768]


@pytest.mark.parametrize(
    "override, match",
    [
        ("trainer.max_steps=many", "config key trainer.max_steps must be int, got 'many'"),
        ("optim.lr=fast", "config key optim.lr must be float"),
        ("data.root=/no/such/folder", "text data folder /no/such/folder does not exist"),
    ],
)
def test_bad_config_is_named(corpus_root, rank_file, tmp_path, override, match):
    with pytest.raises(InputError, match=match):
        train(config(corpus_root, rank_file, tmp_path, override))


def test_unknown_key_fails_at_composition(corpus_root, rank_file, tmp_path):
    with pytest.raises(ConfigCompositionException, match="trainer.max_stepz"):
        config(corpus_root, rank_file, tmp_path, "trainer.max_stepz=3")


def test_no_experiment_names_the_missing_key():
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose("train", ["run_dir=/tmp/x"])
    with pytest.raises(InputError, match="config key task is not set"):
        train(cfg)


def test_empty_corpus(tmp_path, rank_file):
    (tmp_path / "text" / "shakespeare").mkdir(parents=True)
    with pytest.raises(InputError, match="holds no .txt files"):
        train(config(tmp_path, rank_file, tmp_path))
    (tmp_path / "text" / "shakespeare" / "a.txt").write_text("  \n")
    with pytest.raises(InputError, match="a.txt is empty"):
        train(config(tmp_path, rank_file, tmp_path))


def test_not_our_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.ckpt")
    with pytest.raises(InputError, match="is not a tokenize-anything checkpoint"):
        load_model(tmp_path / "other.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="is not a readable PyTorch checkpoint"):
        load_model(tmp_path / "junk.ckpt")
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "missing.ckpt")
