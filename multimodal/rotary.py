"""Rotary position embedding (RoPE) over the global token index.

Positions are given per token, (B, T), so left padding, prefixes and a KV cache all use the
same index a token would have in its unpadded sequence.
"""

import torch
from torch import Tensor, nn


class Rotary(nn.Module):
    """cos/sin tables for rotating query and key pairs; `head_dim` must be even."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary head_dim must be even, got {head_dim}")
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """positions (B, T) -> cos, sin each (B, 1, T, head_dim / 2)."""
        angles = positions[:, None, :, None].float() * self.inv_freq  # (B, 1, T, hd/2)
        return angles.cos(), angles.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate (B, H, T, hd) by the angles of `Rotary`: pairs are the two halves of hd."""
    x1, x2 = x.float().chunk(2, dim=-1)  # (B, H, T, hd/2) each
    rotated = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    return rotated.type_as(x)
