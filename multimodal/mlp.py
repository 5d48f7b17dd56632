"""The position-wise MLP: widen, GELU, project back."""

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """(B, T, D) -> (B, T, ratio * D) -> GELU -> (B, T, D)."""

    def __init__(self, d_model: int, ratio: float = 4.0, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        hidden = int(ratio * d_model)
        self.fc = nn.Linear(d_model, hidden, bias=bias)
        self.act = nn.GELU()
        self.proj = nn.Linear(hidden, d_model, bias=bias)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc(x)  # (B, T, ratio * D)
        if h.requires_grad:
            h = self.act(h)
        else:  # no autograd: nothing reads fc's output again, so activate it in place
            h = torch.ops.aten.gelu_(h, approximate=self.act.approximate)
        return self.drop(self.proj(h))
