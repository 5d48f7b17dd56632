"""A pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)).

Shapes: B batch, T tokens, D width, K kept columns.
"""

from torch import Tensor, nn

from multimodal.attention import Attention
from multimodal.attention_kernels import sdpa
from multimodal.context import Context
from multimodal.masks import tokens_at
from multimodal.mlp import MLP


class Block(nn.Module):
    """Attention and MLP, each added to the residual stream.

    `in_place` (set only by `multimodal.inference_mode`): each branch's fresh output takes the
    residual sum in place, instead of a new tensor.
    """

    def __init__(self, d_model, n_heads, mlp_ratio=4.0, dropout=0.0, bias=True, attend=sdpa):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = Attention(d_model, n_heads, dropout, bias, attend)
        self.norm2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, mlp_ratio, dropout, bias)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.in_place = False

    def forward(self, x: Tensor, ctx: Context) -> Tensor:
        """x (B, T, D) -> (B, T, D); with `ctx.keep` (B, K), only those columns' (B, K, D)."""
        h = self.drop(self.attn(self.norm1(x), ctx))  # (B, T, D)
        if ctx.keep is not None:
            x = tokens_at(x, ctx.keep)  # (B, K, D)
        x = self.residual(x, h)
        return self.residual(x, self.mlp(self.norm2(x)))

    def residual(self, x: Tensor, branch: Tensor) -> Tensor:
        """x + branch; a float32 stream stays float32 when autocast makes the branch bfloat16."""
        if self.in_place and branch.dtype == x.dtype and not branch.requires_grad:
            return branch.add_(x)
        return x + branch
