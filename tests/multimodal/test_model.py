import pytest
import torch

from multimodal.errors import InputError
from multimodal.masks import tokens_at
from multimodal.model import MultimodalModel
from multimodal.tokenizers.text import TextTokenizer
from multimodal.transformer import Transformer


@pytest.mark.parametrize("mask", ["causal", "bidirectional", "prefix"])
@pytest.mark.parametrize("pad_side", ["right", "left"])
def test_batched_equals_alone(tiny_lm, mask, pad_side):
    text = tiny_lm.tokenizer("text")
    samples = [
        [text.prepare("To be, or not to be")],
        [text.prepare("the")],
        [text.prepare("a sea")],
    ]
    prefixes = [3, 1, 2]
    batch = tiny_lm.collate(samples, prefixes, pad_side)
    with torch.no_grad():
        together = tiny_lm(batch, mask=mask)
        for b, sample in enumerate(samples):
            alone = tiny_lm(tiny_lm.collate([sample], [prefixes[b]]), mask=mask)[0]
            real = ~batch.padding[b]
            assert torch.allclose(together[b][real], alone, atol=1e-5)


@pytest.mark.parametrize("mask", ["causal", "bidirectional", "prefix"])
@pytest.mark.parametrize("texts", [("To be, or not", "the", "a sea"), ("abcd", "efgh", "ijkl")])
def test_kept_columns_equal_the_full_result_and_its_gradients(tiny_lm, mask, texts):
    text = tiny_lm.tokenizer("text")
    batch = tiny_lm.collate([[text.prepare(t)] for t in texts], [3, 1, 2])  # unpadded: 2nd
    keep = torch.tensor([[0, 3], [2, 1], [3, 3]])  # (B, K): any columns, repeats allowed
    weights = torch.randn(3, 2, tiny_lm.backbone.d_model)
    grads = []
    for kept in (True, False):
        tiny_lm.zero_grad()
        if kept:
            out = tiny_lm(batch, mask=mask, keep=keep)
        else:
            out = tokens_at(tiny_lm(batch, mask=mask), keep)
        (out * weights).sum().backward()
        grads.append([p.grad.clone() for p in tiny_lm.parameters() if p.grad is not None])
        if kept:
            first = out.detach()
    assert first.shape == (3, 2, tiny_lm.backbone.d_model)
    torch.testing.assert_close(first, out.detach(), atol=1e-5, rtol=1e-5)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)  # sums over many tokens


def test_kept_columns_fill_the_cache_as_the_full_pass_does(tiny_lm):
    text = tiny_lm.tokenizer("text")
    batch = tiny_lm.collate([[text.prepare("To be, or")], [text.prepare("a sea")]], pad_side="left")
    step = tiny_lm.collate([[text.prepare("t")], [text.prepare("o")]])
    step.positions += batch.positions[:, -1:] + 1
    last = torch.full((2, 1), batch.shape[1] - 1)
    with torch.no_grad():
        outs = []
        for keep in (last, None):
            cache = tiny_lm.new_cache(2, 16)
            first = tiny_lm(batch, cache=cache, keep=keep)
            outs.append(
                (tokens_at(first, last) if keep is None else first, tiny_lm(step, cache=cache))
            )
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)  # sums over many tokens


def test_embedding_is_tied_to_lm_head(tiny_lm):
    assert tiny_lm.heads["lm"].weight is tiny_lm.tokenizers["text"].embedding.weight


def test_width_mismatch_is_named(byte_encoding):
    with pytest.raises(
        InputError, match="tokenizer 'text' outputs width 16; the backbone expects 32"
    ):
        MultimodalModel({"text": TextTokenizer(16, encoding=byte_encoding)}, Transformer(32, 1, 4))


def test_missing_tokenizer_and_head(tiny_lm):
    with pytest.raises(InputError, match="no 'image' tokenizer"):
        tiny_lm.tokenizer("image")
    with pytest.raises(InputError, match="no 'classifier' head"):
        tiny_lm.head("classifier")


def test_unknown_mask_kind_is_named(tiny_lm):
    text = tiny_lm.tokenizer("text")
    batch = tiny_lm.collate([[text.prepare("abc")]])  # unpadded: no mask would be built
    with pytest.raises(InputError, match="mask kind 'sideways' is unknown"):
        tiny_lm(batch, mask="sideways")
