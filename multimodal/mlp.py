"""The position-wise MLP: widen, GELU, project back."""

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """(B, T, D) -> (B, T, ratio * D) -> GELU -> (B, T, D).

    `in_place` (set only by `multimodal.inference_mode`): GELU overwrites fc's output.
    """

    def __init__(self, d_model: int, ratio: float = 4.0, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        hidden = int(ratio * d_model)
        self.fc = nn.Linear(d_model, hidden, bias=bias)
        self.act = nn.GELU()
        self.proj = nn.Linear(hidden, d_model, bias=bias)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.in_place = False

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc(x)  # (B, T, ratio * D)
        if self.in_place and not h.requires_grad:
            h = torch.ops.aten.gelu_(h, approximate=self.act.approximate)
        else:
            h = self.act(h)
        return self.drop(self.proj(h))
