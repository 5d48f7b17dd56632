"""`KVCache`: keys and values of past tokens for fast generation.

Preallocated to `max_len`; one `advance` per forward call, then one `update` per layer.
Key positions and padding travel with the keys so masks are built the same way with or
without the cache.
"""

import torch
from torch import Tensor

from multimodal.errors import InputError


class KVCache:
    """Keys/values per layer, each (B, H, max_len, hd), plus key positions and padding (B, max_len)."""

    def __init__(self, n_layers, batch_size, n_heads, head_dim, max_len, dtype, device):
        shape = (batch_size, n_heads, max_len, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.positions = torch.zeros(batch_size, max_len, dtype=torch.long, device=device)
        self.padding = torch.ones(batch_size, max_len, dtype=torch.bool, device=device)
        self.max_len = max_len
        self.length = 0

    def advance(self, positions: Tensor, padding: Tensor) -> tuple[Tensor, Tensor]:
        """Record T new tokens; return positions and padding of all keys, each (B, length)."""
        start, end = self.length, self.length + positions.shape[1]
        if end > self.max_len:
            raise InputError(f"KV cache holds {self.max_len} tokens; {end} were asked for")
        self.positions[:, start:end] = positions
        self.padding[:, start:end] = padding
        self.length = end
        return self.positions[:, :end], self.padding[:, :end]

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store this layer's new (B, H, T, hd) keys/values; return all of them (B, H, length, hd)."""
        T, end = k.shape[2], self.length
        keys, values = self.k[layer], self.v[layer]
        keys.narrow(2, end - T, T).copy_(k)
        values.narrow(2, end - T, T).copy_(v)
        return keys.narrow(2, 0, end), values.narrow(2, 0, end)
