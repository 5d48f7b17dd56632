import math

import torch

from multimodal.attention import Attention, attend


def reference(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """Plain softmax attention over x (B, T, D), bidirectional, no rotary."""
    B, T, D = x.shape
    H = attn.n_heads
    q, k, v = attn.qkv(x).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)  # (B, H, T, hd)
    weights = (q @ k.transpose(-1, -2) / math.sqrt(D // H)).softmax(-1)  # (B, H, T, T)
    return attn.proj((weights @ v).transpose(1, 2).reshape(B, T, D))


def test_attention_without_rotary_is_plain_softmax_attention():
    torch.manual_seed(0)
    attn = Attention(32, 4).eval()
    x = torch.randn(2, 5, 32)
    assert torch.allclose(attn(x, None), reference(attn, x), atol=1e-5)


def test_float32_keys_make_half_precision_queries_attend_in_float32():
    torch.manual_seed(0)
    q = torch.randn(1, 2, 1, 8)
    k, v = torch.randn(2, 1, 2, 7, 8)
    y = attend(q.bfloat16(), k, v, None, False, 0.0)  # a bfloat16 model over a float32 cache
    assert y.dtype == torch.bfloat16
    assert torch.allclose(
        y.float(), attend(q.bfloat16().float(), k, v, None, False, 0.0), atol=1e-2
    )
