"""Rotary position embedding (RoPE) over the global token index.

Positions are given per token, (B, T), so left padding, prefixes and a KV cache all use the
same index a token would have in its unpadded sequence. Channel pairs are adjacent,
(x[2i], x[2i+1]), rotated by angle pos * base^(-2i / hd), as one complex multiplication.
"""

import torch
from torch import Tensor, nn


class Rotary(nn.Module):
    """Unit complex rotations for each position; `head_dim` must be even."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary head_dim must be even, got {head_dim}")
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        """positions (B, T) -> rotations (B, T, 1, 1, head_dim / 2), complex64."""
        angles = positions[:, :, None, None, None].float() * self.inv_freq  # (B, T, 1, 1, hd/2)
        return torch.polar(torch.ones_like(angles), angles)


def apply_rotary(x: Tensor, rotations: Tensor) -> Tensor:
    """Rotate x (B, T, ..., hd) by `Rotary` rotations broadcast over the middle dimensions."""
    pairs = torch.view_as_complex(x.float().view(x.shape[:-1] + (-1, 2)))  # (B, T, ..., hd/2)
    return torch.view_as_real(pairs * rotations).flatten(-2).to(x.dtype)
