import math

import pytest
import torch

from multimodal.attention import Attention
from multimodal.attention_kernels import KERNELS, attention_kernel, sdpa, softmax
from multimodal.context import Context
from multimodal.errors import InputError
from multimodal.kv_cache import KVCache
from multimodal.masks import attention_mask
from multimodal.registry import build
from multimodal.transformer import Transformer


def reference(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """Plain softmax attention over x (B, T, D), bidirectional, no rotary."""
    B, T, D = x.shape
    H = attn.n_heads
    q, k, v = attn.qkv(x).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)  # (B, H, T, hd)
    weights = (q @ k.transpose(-1, -2) / math.sqrt(D // H)).softmax(-1)  # (B, H, T, T)
    return attn.proj((weights @ v).transpose(1, 2).reshape(B, T, D))


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_attention_without_rotary_is_plain_softmax_attention(kernel):
    torch.manual_seed(0)
    attn = Attention(32, 4, attend=KERNELS[kernel]).eval()
    x = torch.randn(2, 5, 32)
    assert torch.allclose(
        attn(x, Context(torch.arange(5).expand(2, 5))), reference(attn, x), atol=1e-5
    )


def test_float32_keys_make_half_precision_queries_attend_in_float32():
    torch.manual_seed(0)
    attn = Attention(32, 4).eval().bfloat16()
    x = torch.randn(1, 5, 32, dtype=torch.bfloat16)
    pos = torch.arange(5)[None]
    cache = KVCache(1, 1, 4, 8, 5, torch.float32, "cpu")  # a bfloat16 model over a float32 cache
    cache.advance(pos, torch.zeros(1, 5, dtype=torch.bool))
    y = attn(x, Context(pos, cache=cache))
    assert y.dtype == torch.bfloat16 and cache.k[0].dtype == torch.float32
    assert torch.allclose(y.float(), attn.float()(x.float(), Context(pos)), atol=1e-2)


def padded_mask(kind: str) -> torch.Tensor:
    pos = torch.tensor([[0, 1, 2, 3, 0, 0], [0, 1, 2, 3, 4, 5]])
    pad = torch.tensor([[False] * 4 + [True] * 2, [False] * 6])
    return attention_mask(kind, pos, pos, pad, torch.tensor([2, 3]))  # (2, 1, 6, 6)


@pytest.mark.parametrize(
    "mask, is_causal",
    [(None, False), (None, True)]
    + [(kind, False) for kind in ("causal", "bidirectional", "prefix")],
)
def test_softmax_kernel_equals_sdpa_and_returns_its_weights(mask, is_causal):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 6, 8)  # (B, H, T, hd) each
    mask = None if mask is None else padded_mask(mask)
    want, none = sdpa(q, k, v, mask, is_causal, 0.0)
    got, weights = softmax(q, k, v, mask, is_causal, 0.0)
    assert none is None and weights.shape == (2, 4, 6, 6)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 6))
    if is_causal:
        mask = torch.ones(6, 6, dtype=torch.bool).tril()
    if mask is not None:
        assert not weights.masked_select(~mask).any()  # no weight where a key is hidden


def test_kernel_is_named_in_the_model_config_and_stays_a_swap():
    torch.manual_seed(0)
    config = {"_target_": "multimodal.transformer.Transformer", "d_model": 32, "n_layers": 2}
    net = build({**config, "n_heads": 4, "attention": "softmax"})
    assert all(block.attn.attend is softmax for block in net.blocks)
    plain = Transformer(32, 2, 4)
    plain.load_state_dict(net.state_dict())  # the kernel holds no weights
    x, pos = torch.randn(2, 6, 32), torch.arange(6).expand(2, 6)
    ctx = Context(pos, mask=padded_mask("prefix"))
    torch.testing.assert_close(net(x, ctx), plain(x, ctx), atol=1e-5, rtol=1e-5)


def test_unknown_kernel_is_named():
    assert attention_kernel("sdpa") is sdpa and attention_kernel(softmax) is softmax
    with pytest.raises(
        InputError, match=r"attention 'flash' is unknown; expected one of \['flex', 'sdpa'"
    ):
        Transformer(32, 1, 4, attention="flash")
