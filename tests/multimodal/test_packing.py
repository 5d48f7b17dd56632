"""Packed rows give every sample what it gets alone: hidden states and next-token losses, under
every mask kind, with positions restarting per sample and no attention across samples; and the
mask takes the form the kernel accepts, built with no wait for the device."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask
from torch.utils._python_dispatch import TorchDispatchMode

from multimodal.attention_kernels import flex, sdpa
from multimodal.batch import collate
from multimodal.context import Context
from multimodal.errors import InputError
from multimodal.masks import MASK_KINDS, attention_mask, block_mask
from multimodal.model import MultimodalModel
from multimodal.packing import first_fit, pack
from multimodal.tasks.language_modeling import next_token_targets

RATE = 16000


@pytest.fixture(scope="module")
def model(mixed_model) -> MultimodalModel:
    return mixed_model


@pytest.fixture(scope="module")
def samples(model):
    """Seven samples of every layout and many lengths, and their prefixes (their non-text part)."""
    text, image, audio = (model.tokenizer(m) for m in ("text", "image", "audio"))
    g = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)

    def picture(h, w):
        return image.prepare(torch.rand(3, h, w, generator=g))

    def clip(seconds):
        return audio.prepare((0.1 * rng.standard_normal(int(seconds * RATE)), RATE))

    found = [
        [text.prepare("To be, or not to be")],
        [picture(8, 12), text.prepare("that is the")],
        [clip(0.13), text.prepare("question:")],
        [picture(16, 8), clip(0.27)],
        [text.prepare("Whether 'tis nobler in the mind to suffer")],
        [clip(0.31), text.prepare("the slings")],
        [picture(4, 4), text.prepare("and arrows")],
    ]
    prefixes = [sum(model.tokenizer(s.modality).num_tokens(s) for s in x[:1]) for x in found]
    prefixes = [p if x[0].modality != "text" else 0 for p, x in zip(prefixes, found)]
    return found, prefixes


def alone(model, sample, prefix, mask):
    batch = collate([sample], model.preprocessors, [prefix])
    return batch, model(batch, mask=mask)[0]  # (n, D)


@pytest.mark.parametrize("mask", MASK_KINDS)
def test_packed_rows_give_each_sample_its_own_hidden_states(model, samples, mask):
    found, prefixes = samples
    batch = pack(found, model.preprocessors, 64, prefixes)
    assert batch.shape[1] == 64 and batch.shape[0] < len(found)
    with torch.no_grad():
        hidden = model(batch, mask=mask)  # (B, 64, D)
        for i, (sample, prefix) in enumerate(zip(found, prefixes)):
            one, expected = alone(model, sample, prefix, mask)
            at = batch.documents == i
            assert int(at.sum()) == one.shape[1]
            assert batch.positions[at].tolist() == list(range(one.shape[1]))
            torch.testing.assert_close(hidden[at], expected, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("mask", ["causal", "prefix"])
def test_packed_next_token_losses_equal_each_sample_alone(model, samples, mask):
    found, prefixes = samples
    prefixes = prefixes if mask == "prefix" else [0] * len(found)
    batch = pack(found, model.preprocessors, 64, prefixes)
    targets = next_token_targets(batch)
    with torch.no_grad():
        logits = model.head("lm")(model(batch, mask=mask))  # (B, T, V)
        total, count = 0.0, 0
        for i, (sample, prefix) in enumerate(zip(found, prefixes)):
            one, hidden = alone(model, sample, prefix, mask)
            want = next_token_targets(one)[0]  # (n,)
            got = targets[batch.documents == i]
            assert got.tolist() == want.tolist()  # never the next sample's first token
            keep = want != -100
            if keep.any():
                ref = F.cross_entropy(model.head("lm")(hidden[keep]), want[keep], reduction="none")
                row = F.cross_entropy(
                    logits[batch.documents == i][keep], got[keep], reduction="none"
                )
                torch.testing.assert_close(row, ref, atol=1e-4, rtol=1e-4)
                total, count = total + ref.sum(), count + len(ref)
        keep = targets != -100
        packed_loss = F.cross_entropy(logits[keep], targets[keep])
    assert count == int(keep.sum())
    torch.testing.assert_close(packed_loss, total / count, atol=1e-4, rtol=1e-4)


def test_first_fit_fills_rows_in_order():
    assert first_fit([5, 3, 4, 2, 1], 8) == [[0, 1], [2, 3, 4]]
    with pytest.raises(InputError, match="^sample 1 is 9 tokens long; packed rows hold 8 tokens$"):
        first_fit([5, 9], 8)


def test_bad_samples_are_named(model, samples):
    found, _ = samples
    with pytest.raises(InputError, match="^sample 4 is 35 tokens long; packed rows hold 32"):
        pack(found, model.preprocessors, 32)
    with pytest.raises(InputError, match="^sample 1 has no segments"):
        pack([found[0], []], model.preprocessors, 64)
    with pytest.raises(InputError, match="^the batch is empty"):
        pack([], model.preprocessors, 64)


class HostWaits(TorchDispatchMode):
    """Counts the ops that make the host wait for the device (a value read, a nonzero)."""

    WAITS = ("_local_scalar_dense", "is_nonzero", "nonzero", "item", "equal", "masked_select")
    INDEXING = ("index", "index_put", "index_put_", "_index_put_impl_")

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        by_mask = name in self.INDEXING and any(  # a boolean index: its size needs a nonzero
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] or ()
        )
        if name in self.WAITS or by_mask:
            self.seen.append(func.__name__)
        return func(*args, **(kwargs or {}))


def test_the_host_wait_counter_sees_waits():
    with HostWaits() as waits:
        x = torch.arange(4.0)
        x[x > 1].sum()
        bool(x.any())
    assert waits.seen == ["index.Tensor", "_local_scalar_dense.default"]


@pytest.mark.parametrize("how", ["padded", "packed", "unpadded"])
@pytest.mark.parametrize("mask", MASK_KINDS)
def test_a_training_forward_never_waits_for_the_device(model, samples, how, mask):
    found, prefixes = samples
    if how == "packed":
        batch = pack(found, model.preprocessors, 64, prefixes)
    elif how == "padded":
        batch = collate(found, model.preprocessors, prefixes)
    else:
        batch = collate([found[0], found[0]], model.preprocessors)
    model.train()
    try:
        with HostWaits() as waits:
            model(batch, mask=mask).sum().backward()
    finally:
        model.eval()
        model.zero_grad()
    assert waits.seen == []


@pytest.mark.parametrize("mask", MASK_KINDS)
@pytest.mark.parametrize("how", ["padded", "packed", "unpadded"])
def test_every_mask_form_equals_the_dense_reference(model, samples, mask, how):
    found, prefixes = samples
    if how == "packed":
        batch = pack(found, model.preprocessors, 64, prefixes)
    elif how == "padded":
        batch = collate(found, model.preprocessors, prefixes)
    else:
        batch = collate([found[4], found[4]], model.preprocessors)
    ctx = Context.for_batch(batch, mask)
    form = "flag" if ctx.is_causal else ("none" if ctx.mask is None else "dense")
    expected_form = {"unpadded": "none" if mask == "bidirectional" else "flag"}.get(how, "dense")
    assert form == expected_form
    dense = attention_mask(
        mask, batch.positions, batch.positions, batch.padding, batch.prefix_len, batch.documents
    )
    reference = Context(batch.positions, dense)
    with torch.no_grad():
        x = model.embed(batch)
        torch.testing.assert_close(model.backbone(x, ctx), model.backbone(x, reference))


@pytest.mark.parametrize("mask", MASK_KINDS)
@pytest.mark.parametrize("how", ["padded", "packed"])
def test_flex_block_masks_equal_the_dense_path(model, samples, mask, how):
    found, prefixes = samples
    if how == "packed":
        batch = pack(found, model.preprocessors, 64, prefixes)
    else:
        batch = collate(found, model.preprocessors, prefixes)
    keep = (~batch.padding).sum(1, keepdim=True) - 1  # (B, 1) each row's last real token
    with torch.no_grad():
        dense = model(batch, mask=mask)
        dense_kept = model(batch, mask=mask, keep=keep)
        for block in model.backbone.blocks:
            block.attn.attend = flex
        try:
            assert model.backbone.mask_form == "block"
            ctx = Context.for_batch(batch, mask, form="block")
            assert isinstance(ctx.mask, BlockMask)
            flexed = model(batch, mask=mask)
            flexed_kept = model(batch, mask=mask, keep=keep)
        finally:
            for block in model.backbone.blocks:
                block.attn.attend = sdpa
    real = ~batch.padding
    torch.testing.assert_close(flexed[real], dense[real], atol=2e-5, rtol=2e-5)
    torch.testing.assert_close(flexed_kept, dense_kept, atol=2e-5, rtol=2e-5)


def test_flex_takes_no_dropout():
    q = torch.zeros(1, 1, 4, 8)
    mask = block_mask(
        "causal",
        torch.arange(4)[None],
        torch.arange(4)[None],
        torch.zeros(1, 4, dtype=torch.bool),
        torch.zeros(1, dtype=torch.long),
    )
    with pytest.raises(InputError, match="^attention flex takes no dropout; got 0.1$"):
        flex(q, q, q, mask, False, 0.1)


def test_flex_refuses_to_train_on_cpu():
    q = torch.zeros(1, 1, 4, 8, requires_grad=True)
    mask = block_mask(
        "causal",
        torch.arange(4)[None],
        torch.arange(4)[None],
        torch.zeros(1, 4, dtype=torch.bool),
        torch.zeros(1, dtype=torch.long),
    )
    with pytest.raises(InputError, match=r"^attention flex trains only on a GPU \(FlexAttention"):
        flex(q, q, q, mask, False, 0.0)
