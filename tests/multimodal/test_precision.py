"""Training at scale's settings on CPU: bf16-mixed precision and a compiled backbone both learn,
and the backbone compiles as one graph for every mask kind, padding, kept columns and cache."""

import csv

import pytest
import torch
import torch._dynamo
from hydra import compose, initialize_config_module

from multimodal.context import Context
from multimodal.kv_cache import KVCache
from multimodal.model import MultimodalModel
from multimodal.train import train
from multimodal.transformer import Transformer


def config(root, rank_file, tmp_path, *overrides):
    """A tiny language model (width 32, one block) for 8 steps of 8 x 64 tokens."""
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=shakespeare",
                f"data_root={root}",
                f"run_dir={tmp_path / 'run'}",
                f"model.tokenizers.text.vocab={rank_file}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=1",
                "model.context_length=64",
                "data.block_size=64",
                "data.batch_size=8",
                "trainer.max_steps=8",
                "trainer.log_every_n_steps=1",
                "trainer.limit_val_batches=0",
                "optim.lr=1e-2",
                "scheduler.warmup_steps=1",
                "~callbacks.checkpoint",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "~callbacks.samples",
                "~callbacks.loss_curve",
                "~loggers.tensorboard",
                *overrides,
            ],
        )


def train_losses(run_dir) -> list[float]:
    """The training loss of every step, as the CSV logger wrote it."""
    with open(run_dir / "csv" / "version_0" / "metrics.csv") as f:
        return [float(row["train_loss"]) for row in csv.DictReader(f) if row.get("train_loss")]


def learned(losses: list[float]) -> bool:
    """The last two steps' loss well below the first two's."""
    return len(losses) == 8 and sum(losses[-2:]) < 0.8 * sum(losses[:2])


def test_bf16_mixed_trains_under_autocast_with_a_float32_stream(
    corpus_root, rank_file, tmp_path, monkeypatch
):
    seen = []  # (autocast on, its dtype, hidden dtype) of each forward
    forward = MultimodalModel.forward

    def spy(self, *args, **kwargs):
        hidden = forward(self, *args, **kwargs)
        seen.append(
            (torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"), hidden.dtype)
        )
        return hidden

    monkeypatch.setattr(MultimodalModel, "forward", spy)
    cfg = config(corpus_root, rank_file, tmp_path, "trainer.precision=bf16-mixed")
    train(cfg)
    assert seen and set(seen) == {(True, torch.bfloat16, torch.float32)}
    losses = train_losses(tmp_path / "run")
    assert learned(losses), losses


def test_compiled_backbone_trains_without_graph_breaks(corpus_root, rank_file, tmp_path):
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    train(config(corpus_root, rank_file, tmp_path, "compile=true"))
    assert counters["stats"]["unique_graphs"] >= 1  # the backbone did compile
    assert not counters["graph_break"], dict(counters["graph_break"])
    losses = train_losses(tmp_path / "run")
    assert learned(losses), losses
    torch._dynamo.reset()


def contexts(B: int = 2, T: int = 6) -> dict[str, Context]:
    """A context of each form the layers meet in training and generation."""
    positions = torch.arange(T).expand(B, T)
    clean = torch.zeros(B, T, dtype=torch.bool)
    padded = clean.clone()
    padded[1, -2:] = True  # the second sample is 2 tokens shorter
    none, prefix = torch.zeros(B, dtype=torch.long), torch.tensor([3, 2])
    cache = KVCache(2, B, 2, 16, T + 1, torch.float32, "cpu")
    return {
        "causal flag": Context.for_tokens(positions, clean, none),
        "padded causal": Context.for_tokens(positions, padded, none),
        "bidirectional": Context.for_tokens(positions, padded, none, "bidirectional"),
        "prefix": Context.for_tokens(positions, clean, prefix, "prefix"),
        "kept columns": Context.for_tokens(positions, clean, none, keep=torch.tensor([[5], [3]])),
        "cache": Context.for_tokens(positions, padded, none, cache=cache),
    }


@pytest.mark.parametrize("attention", ["sdpa", "softmax"])
@pytest.mark.parametrize("rotary", [True, False])
def test_backbone_is_one_graph_for_every_context(attention, rotary):
    torch.manual_seed(0)
    backbone = Transformer(32, 2, 2, rotary=rotary, attention=attention)
    x = torch.randn(2, 6, 32)
    for name, ctx in contexts().items():
        torch._dynamo.reset()
        explained = torch._dynamo.explain(backbone)(x, ctx)
        assert explained.graph_break_count == 0, (name, explained.break_reasons)
        assert explained.graph_count == 1, name
    torch._dynamo.reset()
