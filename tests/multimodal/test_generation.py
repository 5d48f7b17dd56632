import pytest
import torch

from multimodal.errors import InputError
from multimodal.generation import check_options, generate, sample_next
from multimodal.model import MultimodalModel
from multimodal.prepack import onednn_bf16
from multimodal.segment import Segment
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.text import TextTokenizer
from multimodal.transformer import Transformer

PROMPTS = ["To be, or not to be, that", "Or", "The slings and arrows of"]


def prompts(model):
    text = model.tokenizer("text")
    return [[text.prepare(p)] for p in PROMPTS]


def untied_lm(encoding, rotary=True, seed=0):
    """A small LM whose random, untied head gives varied greedy tokens (a tied one repeats)."""
    torch.manual_seed(seed)
    text = TextTokenizer(32, encoding=encoding)
    head = LMHead(32, text.vocab_size, tie_to=None)
    torch.nn.init.normal_(head.weight, std=1.0)
    backbone = Transformer(32, 2, 4, rotary=rotary)
    return MultimodalModel({"text": text}, backbone, {"lm": head}, context_length=128).eval()


@pytest.mark.parametrize("mask", ["causal", "prefix"])
@pytest.mark.parametrize(
    "options", [{"temperature": 0}, {"temperature": 1.0, "top_k": 20, "seed": 3}]
)
def test_cached_equals_uncached(tiny_lm, mask, options):
    samples = prompts(tiny_lm)
    kw = dict(max_new_tokens=24, mask=mask, prefix_lens=[4, 1, 2] if mask == "prefix" else None)
    cached = generate(tiny_lm, samples, use_cache=True, **kw, **options)
    uncached = generate(tiny_lm, samples, use_cache=False, **kw, **options)
    assert cached == uncached
    assert [len(c) for c in cached] == [24, 24, 24]


def test_batch_of_different_lengths_equals_one_by_one(tiny_lm):
    samples = prompts(tiny_lm)
    together = generate(tiny_lm, samples, max_new_tokens=16, temperature=0)
    alone = [generate(tiny_lm, [s], max_new_tokens=16, temperature=0)[0] for s in samples]
    assert together == alone


def test_stop_tokens_end_a_sample(tiny_lm):
    samples = prompts(tiny_lm)[:1]
    free = generate(tiny_lm, samples, max_new_tokens=10, temperature=0)[0]
    stopped = generate(tiny_lm, samples, max_new_tokens=10, temperature=0, stop_tokens=[free[3]])
    assert stopped[0] == free[: free.index(free[3])]


def test_seed_repeats_and_varies(tiny_lm):
    samples = prompts(tiny_lm)
    a = generate(tiny_lm, samples, max_new_tokens=12, seed=1)
    assert a == generate(tiny_lm, samples, max_new_tokens=12, seed=1)
    assert a != generate(tiny_lm, samples, max_new_tokens=12, seed=2)


def test_top_k_one_is_greedy_and_top_p_keeps_the_head():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    assert sample_next(logits, 1.0, top_k=1).item() == 1
    g = torch.Generator().manual_seed(0)
    draws = {sample_next(logits, 1.0, top_p=0.5, generator=g).item() for _ in range(50)}
    assert draws == {1}  # p(1) = 0.64 covers top_p = 0.5 alone


def test_prompt_longer_than_context(tiny_lm):
    text = tiny_lm.tokenizer("text")
    long = [[Segment("text", torch.full((120,), 65))]]
    with pytest.raises(InputError, match="exceeds the model's context of 128 tokens"):
        generate(tiny_lm, long, max_new_tokens=20)
    with pytest.raises(InputError, match="sample 0 is 200 tokens long"):
        generate(tiny_lm, [[text.prepare("a" * 200)]], max_new_tokens=1)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_bad_options(tiny_lm, options, match):
    with pytest.raises(InputError, match=match):
        generate(tiny_lm, prompts(tiny_lm), **options)


@pytest.mark.parametrize("mask", ["causal", "prefix"])
def test_rotary_off_cached_and_batched_equal_uncached_one_by_one(byte_encoding, mask):
    model = untied_lm(byte_encoding, rotary=False)
    samples = prompts(model)
    kw = dict(max_new_tokens=12, temperature=0, mask=mask)
    prefix = [4, 1, 2] if mask == "prefix" else None
    cached = generate(model, samples, prefix_lens=prefix, **kw)
    assert cached == generate(model, samples, prefix_lens=prefix, use_cache=False, **kw)
    alone = [
        generate(model, [s], prefix_lens=None if prefix is None else [p], **kw)[0]
        for s, p in zip(samples, prefix or [0] * 3)
    ]
    assert cached == alone and len(set(map(tuple, cached))) == 3


def test_bfloat16_decoding_follows_float32(byte_encoding):
    model = untied_lm(byte_encoding)
    samples = prompts(model)
    full = generate(model, samples, max_new_tokens=4, temperature=0)
    half = model.to(torch.bfloat16)
    assert generate(half, samples, max_new_tokens=4, temperature=0) == full
    sampled = generate(half, samples, max_new_tokens=4, temperature=1.0, top_k=5, top_p=0.9, seed=0)
    assert [len(s) for s in sampled] == [4, 4, 4]


def test_sampling_accepts_bfloat16_logits():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]], dtype=torch.bfloat16)
    assert sample_next(logits, 0).item() == 1
    assert sample_next(logits, 1.0, top_k=1).item() == 1
    assert sample_next(logits, 0.5, top_p=0.5, generator=torch.Generator().manual_seed(0)) == 1


@pytest.mark.skipif(not onednn_bf16(), reason="no oneDNN bfloat16 on this CPU")
def test_decoding_runs_on_prepacked_weights_and_restores_them(byte_encoding):
    model = untied_lm(byte_encoding).to(torch.bfloat16)
    head, qkv = model.head("lm"), model.backbone.blocks[0].attn.qkv
    packed = []
    hooks = [
        m.register_forward_pre_hook(lambda m, _: packed.append("forward" in vars(m)))
        for m in (head, qkv)
    ]
    generate(model, prompts(model), max_new_tokens=3, temperature=0)
    for h in hooks:
        h.remove()
    assert packed == [True] * 6  # qkv and the head, for the prompt and two decoding steps
    assert "forward" not in vars(head) and "forward" not in vars(qkv)


@pytest.mark.parametrize("temperature", [5e-324, 1e-30, 1e308, float("inf")])
def test_extreme_temperatures_sample_valid_tokens(temperature):
    logits = torch.tensor([[0.0, 3.0, 1.0, float("-inf")], [5.0, 5.0, -2.0, 0.0]])
    ids = sample_next(logits, temperature, generator=torch.Generator().manual_seed(0))
    assert ids.shape == (2,) and ids[0] != 3  # never the masked token
    if temperature < 1:
        assert ids[0] == 1 and ids[1] in (0, 1)  # as good as greedy


def test_nan_temperature_is_refused():
    with pytest.raises(InputError, match="temperature must be 0"):
        check_options(4, float("nan"), None, None)
