"""Multi-head self-attention through `scaled_dot_product_attention`, with optional rotary positions.

Shapes: B batch, T tokens, D width, H heads, hd = D / H.
"""

import torch.nn.functional as F
from torch import Tensor, nn

from multimodal.kv_cache import KVCache
from multimodal.masks import tokens_at
from multimodal.rotary import apply_rotary


def attend(q: Tensor, k: Tensor, v: Tensor, mask, is_causal: bool, dropout: float) -> Tensor:
    """SDPA over q (B, H, T, hd) and k, v (B, H, Tk, hd) -> (B, H, T, hd), in the dtype of k.

    k and v from a float32 KV cache under a half-precision model (see `Transformer.new_cache`)
    make the attention run in float32, and only q and the output are converted.
    """
    options = dict(attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
    if q.dtype != k.dtype:
        return F.scaled_dot_product_attention(q.to(k.dtype), k, v, **options).to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, **options)


class Attention(nn.Module):
    """Fused qkv projection, rotary q/k, SDPA (flash kernels where available), output projection."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = dropout

    def forward(
        self,
        x: Tensor,
        rotations: Tensor | None,
        mask: Tensor | None = None,
        is_causal: bool = False,
        cache: KVCache | None = None,
        layer: int = 0,
        keep: Tensor | None = None,
    ) -> Tensor:
        """x (B, T, D); rotations from `Rotary`, or None for no rotary positions -> (B, T, D).

        With keep (B, K), only the queries at those columns are computed: (B, K, D), and `mask`
        must already be theirs (`masks.query_rows`); keys and values still come from all of x.
        """
        return self.proj(self.heads(x, rotations, mask, is_causal, cache, layer, keep))

    def heads(self, x, rotations, mask, is_causal, cache, layer, keep=None) -> Tensor:
        """Every head's attention output, concatenated: (B, T, D), or (B, K, D) with keep.

        A method of its own so that q, k and v are freed before the output projection (without
        autograd), which may then reuse their memory.
        """
        B, T, D = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads)  # (B, T, 3, H, hd)
        if rotations is None:
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, T, hd) each
        else:
            qk = apply_rotary(qkv.narrow(2, 0, 2), rotations)  # q and k rotated together
            q, k = qk.transpose(1, 3).unbind(2)  # (B, H, T, hd) each
            v = qkv.select(2, 2).transpose(1, 2)  # (B, H, T, hd)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, H, Tk, hd)
        if keep is not None:
            q = tokens_at(q.transpose(1, 2), keep).transpose(1, 2)  # (B, H, K, hd)
        y = attend(q, k, v, mask, is_causal, self.dropout if self.training else 0.0)
        return y.transpose(1, 2).reshape(B, q.shape[2], D)
