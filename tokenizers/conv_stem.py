"""`ConvStem`: log-mel frames to vectors, two 1D convolutions as in Whisper's audio encoder.

Shapes: S clips, M mels, F frames (the longest clip), L = ceil(F / 2) tokens, D width.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvStem(nn.Module):
    """Conv (kernel 3) + GELU, then conv (kernel 3, stride 2) + GELU: 100 frames/s -> 50 tokens/s.

    Frames past each clip's end are zero between the two convolutions, so a clip padded inside a
    batch gives the same vectors as the clip alone.
    """

    def __init__(self, n_mels: int, d_model: int):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d_model, d_model, kernel_size=3, stride=2, padding=1)

    @staticmethod
    def out_length(frames: int | Tensor) -> int | Tensor:
        """Tokens from `frames` log-mel frames."""
        return (frames + 1) // 2

    def forward(self, mel: Tensor, frames: Tensor) -> Tensor:
        """mel (S, M, F), zero past each clip's `frames` (S,) -> (S, L, D)."""
        x = F.gelu(self.conv1(mel))  # (S, D, F)
        inside = torch.arange(mel.shape[-1], device=mel.device) < frames[:, None]  # (S, F)
        x = x * inside[:, None, :]
        x = F.gelu(self.conv2(x))  # (S, D, L)
        return x.transpose(1, 2)  # NCL -> NLC
