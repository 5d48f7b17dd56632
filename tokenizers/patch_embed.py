"""Cutting images into patches and projecting patches to vectors.

Shapes: S images, C channels, p patch side, h x w patch grid, L = h * w patches, D width.
A patch's vector is its pixels in (channel, row, column) order, the layout of
`torch.nn.functional.unfold` and of a conv weight (D, C, p, p); patches are in row-major order.
"""

from torch import Tensor, nn


def patchify(images: Tensor, p: int) -> Tensor:
    """(..., C, h*p, w*p) -> (..., h*w, C*p*p)."""
    *lead, C, H, W = images.shape
    h, w = H // p, W // p
    n = len(lead)
    x = images.reshape(*lead, C, h, p, w, p)
    x = x.permute(*range(n), n + 1, n + 3, n, n + 2, n + 4)  # (..., h, w, C, p, p)
    return x.reshape(*lead, h * w, C * p * p)


class PatchEmbed(nn.Module):
    """Patches (S, L, C*p*p) -> vectors (S, L, D): one linear map, the same as a stride-p conv.

    `weight.view(D, C, p, p)` is the equivalent conv kernel (a timm `PatchEmbed.proj.weight`).
    """

    def __init__(self, in_channels: int, patch_size: int, d_model: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(in_channels * patch_size * patch_size, d_model)

    def forward(self, patches: Tensor) -> Tensor:
        return self.proj(patches)  # (S, L, D)
