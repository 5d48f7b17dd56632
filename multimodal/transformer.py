"""`Transformer`: the one backbone every modality shares.

Shapes: B batch, T tokens, D = d_model.
"""

import math

import torch
from torch import Tensor, nn

from multimodal.attention_kernels import Kernel, attention_kernel, mask_form
from multimodal.block import Block
from multimodal.context import Context
from multimodal.kv_cache import KVCache
from multimodal.rotary import Rotary


class Transformer(nn.Module):
    """A stack of pre-norm blocks with rotary positions (optional) and a final LayerNorm.

    Args:
        d_model: token width D.
        n_layers: number of blocks.
        n_heads: attention heads; D must divide by it and D / n_heads must be even.
        mlp_ratio: MLP hidden width over D.
        dropout: dropout on attention weights and residual branches.
        bias: biases in linear and norm layers.
        rope_base: rotary frequency base.
        rotary: rotate queries and keys by token position; off for inputs whose embeddings
            already carry positions (e.g. image patches with 2D position embeddings).
        attention: the attention kernel, a name in `multimodal.attention_kernels.KERNELS`
            ("sdpa", or "softmax" for the explicit path that forms its weights) or a kernel.

    The residual stream runs in the parameters' dtype (`dtype`): inputs are converted to it, and
    under autocast it stays there while the layers inside compute in half precision.
    """

    def __init__(
        self,
        d_model: int,
        n_layers: int,
        n_heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        bias: bool = True,
        rope_base: float = 10000.0,
        rotary: bool = True,
        attention: str | Kernel = "sdpa",
    ):
        super().__init__()
        self.d_model, self.n_layers, self.n_heads = d_model, n_layers, n_heads
        self.rotary = Rotary(d_model // n_heads, rope_base) if rotary else None
        attend = attention_kernel(attention)
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, mlp_ratio, dropout, bias, attend) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model, bias=bias)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None) -> KVCache:
        """An empty KV cache for `batch_size` sequences of up to `max_len` tokens.

        Its dtype is the parameters', except for half precision on CPU: float32 there, where
        attention over one new token is several times faster in float32 than in bfloat16.
        """
        p = next(self.parameters())
        if dtype is None:
            half = p.device.type == "cpu" and p.dtype in (torch.bfloat16, torch.float16)
            dtype = torch.float32 if half else p.dtype
        hd = self.d_model // self.n_heads
        return KVCache(
            self.n_layers, batch_size, self.n_heads, hd, max_len, dtype, device or p.device
        )

    @property
    def mask_form(self) -> str:
        """The mask its attention kernel reads: "dense" or "block" (`attention_kernels`)."""
        return mask_form(self.blocks[0].attn.attend)

    @property
    def dtype(self) -> torch.dtype:
        """The residual stream's dtype: the parameters'."""
        return self.norm.weight.dtype

    def forward(self, x: Tensor, ctx: Context) -> Tensor:
        """x (B, T, D) at `ctx.positions` -> (B, T, D), or (B, K, D) for `ctx.keep` (B, K): the
        last block then computes only those columns' queries, MLP and residuals."""
        x = x.to(self.dtype)
        rotations = None if self.rotary is None else self.rotary(ctx.positions)  # (B,T,1,1,hd/2)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, ctx.for_block(i, rotations, i == last))
        return self.norm(x)


def count_parameters(module: nn.Module) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())
