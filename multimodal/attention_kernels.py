"""Attention kernels: the part of attention that mixes values, chosen by name.

Every kernel takes q (B, H, T, hd), k and v (B, H, Tk, hd) of one dtype, a mask or None, SDPA's
causal flag and a dropout probability, and returns the output (B, H, T, hd) with the attention
weights (B, H, T, Tk), or None for a kernel that never forms them. The mask is a boolean
(B, 1, T, Tk) (True: may attend), or, for a kernel whose `mask_form` is "block", a FlexAttention
`BlockMask` where the batch needs a mask at all (`Context.for_tokens` builds the form the
model's kernel names). `Attention` is built with one; swapping it changes nothing else.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from multimodal.errors import InputError

Kernel = Callable[
    [Tensor, Tensor, Tensor, Tensor | None, bool, float], tuple[Tensor, Tensor | None]
]


def sdpa(q, k, v, mask, is_causal, dropout) -> tuple[Tensor, None]:
    """`F.scaled_dot_product_attention`: flash or memory-efficient kernels where available."""
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal
    )
    return out, None


def softmax(q, k, v, mask, is_causal, dropout) -> tuple[Tensor, Tensor]:
    """The same attention written out, softmax(q k^T / sqrt(hd)) v, returning its weights
    (before dropout), e.g. to draw them."""
    scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5  # (B, H, T, Tk)
    if is_causal:  # SDPA's flag: query i sees keys 0..i
        mask = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    mixing = F.dropout(weights, dropout) if dropout else weights
    return mixing @ v, weights


def flex(q, k, v, mask, is_causal, dropout) -> tuple[Tensor, None]:
    """FlexAttention over a `BlockMask` (packed rows, prefixes, padding), skipping the blocks
    it masks whole; without one (no mask, or the causal flag) it is `sdpa`. It is fused only
    when compiled (`compile=true`); eager, it is a slow reference. No dropout, and on CPU no
    training (no backward there)."""
    from torch.nn.attention.flex_attention import BlockMask, flex_attention

    if not isinstance(mask, BlockMask):
        return sdpa(q, k, v, mask, is_causal, dropout)
    if dropout:
        raise InputError(f"attention flex takes no dropout; got {dropout}")
    if q.device.type == "cpu" and torch.is_grad_enabled() and q.requires_grad:
        raise InputError(
            "attention flex trains only on a GPU (FlexAttention has no backward on CPU); use attention sdpa"
        )
    return flex_attention(q, k, v, block_mask=mask), None


flex.mask_form = "block"

KERNELS: dict[str, Kernel] = {"sdpa": sdpa, "softmax": softmax, "flex": flex}


def mask_form(kernel: Kernel) -> str:
    """The mask a kernel reads: "dense" (a boolean tensor) or "block" (a `BlockMask`)."""
    return getattr(kernel, "mask_form", "dense")


def attention_kernel(name: str | Kernel) -> Kernel:
    """The kernel called `name` in `KERNELS`; a callable is taken as a kernel itself."""
    if callable(name):
        return name
    if name not in KERNELS:
        raise InputError(f"attention {name!r} is unknown; expected one of {sorted(KERNELS)}")
    return KERNELS[name]
