"""2D positional encodings by patch row and column, for a grid of any size.

Both kinds give a table (h * w, D) for an h x w grid in row-major patch order (row r, column c
is entry r * w + c), so an image of a size never seen in training still gets one vector per
patch.

`SinCos2d` (fixed): with F = D / 4 frequencies w_k = base ** (-k / F), k = 0 .. F - 1,

    pe(r, c) = [sin(r w_k) for k] ++ [cos(r w_k) for k] ++ [sin(c w_k) for k] ++ [cos(c w_k) for k]

`Learned2d`: a learned (D, gh, gw) grid, resized bicubically to (h, w) when the grid differs
(as `timm.layers.resample_abs_pos_embed` does).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multimodal.errors import InputError

KINDS = ("sincos", "learned")


class SinCos2d(nn.Module):
    """Fixed sin-cos encoding of (row, column); D must divide by 4."""

    def __init__(self, d_model: int, base: float = 10000.0):
        super().__init__()
        if d_model % 4:
            raise InputError(f"sin-cos 2D positions need d_model divisible by 4, got {d_model}")
        quarter = d_model // 4
        omega = base ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
        self.register_buffer("omega", omega.float(), persistent=False)  # (D/4,)

    def forward(self, h: int, w: int) -> Tensor:
        """(h * w, D) for an h x w grid."""
        rows = torch.arange(h, device=self.omega.device).repeat_interleave(w)  # (h*w,)
        cols = torch.arange(w, device=self.omega.device).repeat(h)  # (h*w,)
        r = rows[:, None] * self.omega  # (h*w, D/4)
        c = cols[:, None] * self.omega
        return torch.cat([r.sin(), r.cos(), c.sin(), c.cos()], dim=-1)  # (h*w, D)


class Learned2d(nn.Module):
    """A learned (D, gh, gw) grid of vectors, interpolated bicubically to other grid sizes."""

    def __init__(self, d_model: int, grid: tuple[int, int] = (14, 14)):
        super().__init__()
        gh, gw = grid
        self.grid = (int(gh), int(gw))
        self.weight = nn.Parameter(torch.randn(d_model, gh, gw) * 0.02)

    def forward(self, h: int, w: int) -> Tensor:
        """(h * w, D) for an h x w grid."""
        table = self.weight  # (D, gh, gw)
        if (h, w) != self.grid:
            table = F.interpolate(
                table[None], size=(h, w), mode="bicubic", align_corners=False, antialias=True
            )[0]  # (D, h, w)
        return table.flatten(1).T  # (h*w, D)


def make_pos_embed(kind: str, d_model: int, grid: tuple[int, int] = (14, 14)) -> nn.Module:
    """ "sincos" or "learned" (trained on `grid`, interpolated to others)."""
    if kind == "sincos":
        return SinCos2d(d_model)
    if kind == "learned":
        return Learned2d(d_model, tuple(grid))
    raise InputError(f"pos_embed {kind!r} is unknown; expected one of {KINDS}")
