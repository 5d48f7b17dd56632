"""`Transformer`: the one backbone every modality shares.

Shapes: B batch, T tokens, D = d_model.
"""

import math

import torch
from torch import Tensor, nn

from multimodal.block import Block
from multimodal.kv_cache import KVCache
from multimodal.masks import query_rows
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
    ):
        super().__init__()
        self.d_model, self.n_layers, self.n_heads = d_model, n_layers, n_heads
        self.rotary = Rotary(d_model // n_heads, rope_base) if rotary else None
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, mlp_ratio, dropout, bias) for _ in range(n_layers)
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

    def forward(
        self,
        x: Tensor,
        positions: Tensor,
        mask: Tensor | None = None,
        is_causal: bool = False,
        cache: KVCache | None = None,
        keep: Tensor | None = None,
    ) -> Tensor:
        """x (B, T, D), positions (B, T), mask (B, 1, T, Tk) bool or None -> (B, T, D).

        keep (B, K): return only the tokens at these columns, (B, K, D). The last block then
        computes only their queries, MLP and residuals (e.g. a class token read by a head).
        """
        rotations = None if self.rotary is None else self.rotary(positions)  # (B, T, 1, 1, hd/2)
        *early, last = self.blocks
        for i, block in enumerate(early):
            x = block(x, rotations, mask, is_causal, cache, i)
        if keep is not None:  # (is_causal comes only without a cache: the keys are x's tokens)
            mask, is_causal = query_rows(mask, is_causal, keep, x.shape[1]), False
        return self.norm(last(x, rotations, mask, is_causal, cache, len(early), keep))


def count_parameters(module: nn.Module) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())
