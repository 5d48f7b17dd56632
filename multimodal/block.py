"""A pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

from torch import Tensor, nn

from multimodal.attention import Attention
from multimodal.kv_cache import KVCache
from multimodal.masks import tokens_at
from multimodal.mlp import MLP


def residual(x: Tensor, branch: Tensor) -> Tensor:
    """x + branch; without autograd, added in place into the branch's fresh output."""
    return x + branch if branch.requires_grad else branch.add_(x)


class Block(nn.Module):
    def __init__(self, d_model, n_heads, mlp_ratio=4.0, dropout=0.0, bias=True):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = Attention(d_model, n_heads, dropout, bias)
        self.norm2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, mlp_ratio, dropout, bias)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

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
        """x (B, T, D) -> (B, T, D); with keep (B, K), only those columns' outputs (B, K, D)."""
        h = self.attn(self.norm1(x), rotations, mask, is_causal, cache, layer, keep)  # (B, T, D)
        if keep is not None:
            x = tokens_at(x, keep)  # (B, K, D)
        x = residual(x, self.drop(h))
        return residual(x, self.mlp(self.norm2(x)))
