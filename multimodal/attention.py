"""Multi-head self-attention with optional rotary positions; the kernel is a part passed in.

Shapes: B batch, T tokens, D width, H heads, hd = D / H, K kept columns.
"""

from torch import Tensor, nn

from multimodal.attention_kernels import Kernel, sdpa
from multimodal.context import Context
from multimodal.masks import tokens_at
from multimodal.rotary import apply_rotary


class Attention(nn.Module):
    """Fused qkv projection, rotary q/k, an attention kernel, output projection.

    Args:
        attend: the kernel (`multimodal.attention_kernels`), SDPA by default.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        attend: Kernel = sdpa,
    ):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = dropout
        self.attend = attend

    def forward(self, x: Tensor, ctx: Context) -> Tensor:
        """x (B, T, D) -> (B, T, D); with `ctx.keep` (B, K), only those queries: (B, K, D), and
        `ctx.mask` must already be theirs (`Context.for_block`); keys still come from all of x.
        """
        return self.proj(self.heads(x, ctx))

    def heads(self, x: Tensor, ctx: Context) -> Tensor:
        """Every head's attention output, concatenated: (B, T, D), or (B, K, D) with keep.

        A method of its own so that q, k and v are freed before the output projection (without
        autograd), which may then reuse their memory.
        """
        B, T, D = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads)  # (B, T, 3, H, hd)
        if ctx.rotations is None:
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, T, hd) each
        else:
            qk = apply_rotary(qkv.narrow(2, 0, 2), ctx.rotations)  # q and k rotated together
            q, k = qk.transpose(1, 3).unbind(2)  # (B, H, T, hd) each
            v = qkv.select(2, 2).transpose(1, 2)  # (B, H, T, hd)
        if ctx.cache is not None:
            k, v = ctx.cache.update(ctx.layer, k, v)  # (B, H, Tk, hd)
        if ctx.keep is not None:
            q = tokens_at(q.transpose(1, 2), ctx.keep).transpose(1, 2)  # (B, H, K, hd)
        dropout = self.dropout if self.training else 0.0
        if q.dtype == k.dtype:
            y, _ = self.attend(q, k, v, ctx.mask, ctx.is_causal, dropout)  # (B, H, T, hd)
        else:  # a float32 cache under a half-precision model (`Transformer.new_cache`)
            y, _ = self.attend(q.to(k.dtype), k, v, ctx.mask, ctx.is_causal, dropout)
            y = y.to(q.dtype)
        return y.transpose(1, 2).reshape(B, q.shape[2], D)
