"""Attention weights on request: the fast path's outputs, rows that sum to 1, zeros where the
mask forbids, for every mask kind, with padding and with a KV cache during generation."""

import pytest
import torch

from multimodal.attention_kernels import sdpa
from multimodal.attention_maps import capture_attention
from multimodal.generation import generate
from multimodal.masks import attention_mask

TEXTS = ["to be, or not to be", "the question"]


def batch_of(model, mask: str):
    text = model.tokenizer("text")
    samples = [[text.prepare(t)] for t in TEXTS]
    prefix = [3, 2] if mask == "prefix" else None
    return model.collate(samples, prefix_lens=prefix)


@pytest.mark.parametrize("mask", ["causal", "bidirectional", "prefix"])
def test_weights_are_the_fast_paths_and_follow_the_mask(tiny_lm, mask):
    batch = batch_of(tiny_lm, mask)  # padded: the second text is shorter
    with torch.no_grad():
        fast = tiny_lm(batch, mask=mask)
        with capture_attention(tiny_lm) as maps:
            slow = tiny_lm(batch, mask=mask)
    torch.testing.assert_close(slow, fast, atol=1e-5, rtol=1e-5)  # weights @ V == SDPA
    B, T = batch.shape
    assert len(maps) == len(tiny_lm.backbone.blocks)
    allowed = attention_mask(
        mask, batch.positions, batch.positions, batch.padding, batch.prefix_len
    )
    real = ~batch.padding  # (B, T) rows of real tokens
    for weights in maps:
        assert weights.shape == (B, 4, T, T)
        assert (weights.masked_select(~allowed) == 0).all()
        sums = weights.sum(-1)[real[:, None, :].expand(B, 4, T)]
        torch.testing.assert_close(sums, torch.ones_like(sums))
    assert all(block.attn.attend is sdpa for block in tiny_lm.backbone.blocks)  # restored


def test_kept_columns_record_only_their_rows(tiny_lm):
    batch = batch_of(tiny_lm, "causal")
    keep = torch.tensor([[5], [2]])
    with torch.no_grad(), capture_attention(tiny_lm) as maps:
        tiny_lm(batch, keep=keep)
    assert maps[-1].shape[2] == 1 and maps[0].shape[2] == batch.shape[1]


def test_generation_with_a_cache_records_each_step_over_every_key(tiny_lm):
    text = tiny_lm.tokenizer("text")
    prompt = [[text.prepare("to be")]]
    plain = generate(tiny_lm, prompt, 4, temperature=0, stop_tokens=[])
    with capture_attention(tiny_lm) as maps:
        ids = generate(tiny_lm, prompt, 4, temperature=0, stop_tokens=[])
    assert ids == plain
    layers = len(tiny_lm.backbone.blocks)
    steps = [maps[i : i + layers] for i in range(0, len(maps), layers)]
    keys = [step[0].shape[-1] for step in steps]
    assert keys == sorted(keys) and keys[-1] > keys[0]  # the cache grows by one token a step
    for step in steps[1:]:
        for weights in step:
            assert weights.shape[2] == 1  # one new query over every cached key
            torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))
