"""A batch that mixes modalities and layouts gives each sample what it gets alone.

The batch holds samples laid out as [text], [image, text], [audio, text] and [image, audio],
with images of different sizes and audio clips of different lengths, so every modality is padded
both in its own collated tensors and in the (B, T) sequence. Batched and lone runs go through
the same `collate`, so the checks hold whatever markers it puts around segments.
"""

from collections import Counter
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from multimodal.generation import generate
from multimodal.masks import MASK_KINDS
from multimodal.model import MultimodalModel

D = 32
RATE = 16000


@pytest.fixture(scope="module")
def model(mixed_model) -> MultimodalModel:
    return mixed_model


@pytest.fixture(scope="module")
def samples(model):
    """[text], [image, text], [audio, text], [image, audio]; two image grids, two clip lengths."""
    text, image, audio = (model.tokenizer(m) for m in ("text", "image", "audio"))
    g = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)

    def picture(h, w):
        return image.prepare(torch.rand(3, h, w, generator=g))

    def clip(seconds):
        return audio.prepare((0.1 * rng.standard_normal(int(seconds * RATE)), RATE))

    return [
        [text.prepare("To be, or not to be")],
        [picture(8, 12), text.prepare("that is the")],
        [clip(0.13), text.prepare("question:")],
        [picture(16, 8), clip(0.27)],
    ]


def prefix_lens(model, samples) -> list[int]:
    """The non-text part of each sample (all of it for [image, audio]); 3 tokens for [text]."""
    lens = [
        sum(model.tokenizer(s.modality).num_tokens(s) for s in sample if s.modality != "text")
        for sample in samples
    ]
    return [n or 3 for n in lens]


@contextmanager
def count_calls(model):
    """Yields, per modality, the number of segments S of each call to its tokenizer."""
    calls = {m: [] for m in model.tokenizers}
    handles = [
        tok.register_forward_hook(lambda _, __, out, m=m: calls[m].append(out.shape[0]))
        for m, tok in model.tokenizers.items()
    ]
    try:
        yield calls
    finally:
        for h in handles:
            h.remove()


def test_layouts_differ_in_length_and_padding(model, samples):
    batch = model.collate(samples)
    assert len(set((~batch.padding).sum(1).tolist())) == len(samples)  # every sample padded apart
    image, audio = batch.inputs["image"], batch.inputs["audio"]
    assert len(set(map(tuple, image["grid"].tolist()))) == 2  # patch lists padded to the longest
    assert len(set(audio["frames"].tolist())) == 2  # mel frames padded to the longest


@pytest.mark.parametrize("use_cache", [False, True], ids=["no_cache", "cache"])
@pytest.mark.parametrize("pad_side", ["right", "left"])
@pytest.mark.parametrize("mask", MASK_KINDS)
def test_hidden_states_batched_equal_alone(model, samples, mask, pad_side, use_cache):
    prefixes = prefix_lens(model, samples) if mask == "prefix" else None
    batch = model.collate(samples, prefixes, pad_side)
    B, T = batch.shape
    with torch.no_grad():
        together = model(batch, mask=mask, cache=model.new_cache(B, T) if use_cache else None)
        for b, sample in enumerate(samples):
            alone_batch = model.collate([sample], prefixes and [prefixes[b]])
            alone = model(alone_batch, mask=mask)[0]
            real = ~batch.padding[b]
            assert together[b][real].shape == alone.shape
            diff = (together[b][real] - alone).abs().max().item()
            assert diff < 1e-5, f"sample {b}: batched and alone differ by up to {diff:.2e}"


@pytest.mark.parametrize("use_cache", [False, True], ids=["no_cache", "cache"])
@pytest.mark.parametrize("mask", ["causal", "prefix"])
def test_greedy_generation_batched_equals_alone(model, samples, mask, use_cache):
    prefixes = prefix_lens(model, samples) if mask == "prefix" else None
    kw = dict(max_new_tokens=6, temperature=0, mask=mask)
    together = generate(model, samples, use_cache=use_cache, prefix_lens=prefixes, **kw)
    alone = [
        generate(model, [s], use_cache=False, prefix_lens=prefixes and [prefixes[b]], **kw)[0]
        for b, s in enumerate(samples)
    ]
    assert together == alone
    assert all(len(ids) == 6 for ids in together)


@pytest.mark.parametrize("pad_side", ["right", "left"])
def test_each_modality_is_embedded_in_one_call(model, samples, pad_side):
    segments = Counter(s.modality for sample in samples for s in sample)
    batch = model.collate(samples, pad_side=pad_side)
    with count_calls(model) as calls, torch.no_grad():
        model(batch)
    assert calls["image"] == [segments["image"]] == [2]
    assert calls["audio"] == [segments["audio"]] == [2]
    # Text: one call too; collate may add marker segments around images and audio.
    assert calls["text"] == [batch.slots["text"].shape[0]]
    assert calls["text"][0] >= segments["text"]


def test_cached_generation_embeds_images_and_audio_once(model, samples):
    with count_calls(model) as calls:
        generate(model, samples, max_new_tokens=4, temperature=0, use_cache=True)
    assert calls["image"] == [2]  # the prefill only; decoding steps embed new text alone
    assert calls["audio"] == [2]
    assert calls["text"][1:] == [len(samples)] * 3  # one new token per sample per step


@pytest.mark.parametrize("order", ["image_first", "audio_first"])
def test_bfloat16_autocast_keeps_the_residual_stream_in_the_parameters_dtype(model, samples, order):
    # Under autocast the image tokenizer returns bfloat16 and the audio tokenizer float32; no
    # text, so no boundary markers come first. The stream is float32 either way.
    parts = {m: model.tokenizer(m) for m in ("image", "audio")}
    no_text = MultimodalModel(parts, model.backbone, context_length=128).eval()
    picture, clip = samples[3]
    batch = no_text.collate([[picture, clip] if order == "image_first" else [clip, picture]])
    blocks = []
    hooks = [
        b.register_forward_hook(lambda _, __, y: blocks.append(y.dtype))
        for b in model.backbone.blocks
    ]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        x = no_text.embed(batch).flatten(0, 1)  # (T, D)
        audio = parts["audio"](batch.inputs["audio"])  # (1, L, D)
        hidden = no_text(batch, mask="bidirectional")
    for h in hooks:
        h.remove()
    assert audio.dtype == x.dtype == hidden.dtype == torch.float32
    assert blocks == [torch.float32] * len(model.backbone.blocks)
    slot = batch.slots["audio"][0]
    assert torch.equal(x[slot], audio[0, : len(slot)])  # not rounded to bfloat16 on the way
