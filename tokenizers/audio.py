"""`AudioTokenizer`: the module half of audio, a conv stem from log-mel frames to vectors.

Shapes: S clips in a batch, M mels, F frames (10 ms each), L = ceil(F / 2) tokens (20 ms each),
D width.
"""

import math

import torch
from torch import Tensor

from multimodal.errors import InputError
from multimodal.tokenizer import Tokenizer
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor
from multimodal.tokenizers.conv_stem import ConvStem


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> Tensor:
    """Whisper's 1D sin-cos positional encoding, (length, channels), for any length."""
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2))  # (channels / 2,)
    scaled = torch.arange(length)[:, None] * inv_timescales[None, :]  # (length, channels / 2)
    return torch.cat([scaled.sin(), scaled.cos()], dim=1)


class AudioTokenizer(Tokenizer):
    """Log-mel (S, M, F) -> conv stem + sinusoids + modality embedding, (S, L, D).

    Args:
        d_model: output width (even).
        **preprocess: `AudioPreprocessor`'s arguments (sample_rate, n_mels, n_fft, hop_length,
            max_seconds).
    """

    preprocessor_class = AudioPreprocessor

    def __init__(self, d_model: int, **preprocess):
        if d_model % 2:
            raise InputError(f"audio tokenizer d_model must be even, got {d_model}")
        prep = AudioPreprocessor(**preprocess)
        super().__init__(d_model, prep)
        self.max_tokens = prep.max_tokens
        self.stem = ConvStem(prep.n_mels, d_model)
        self.register_buffer("positions", sinusoids(self.max_tokens, d_model), persistent=False)

    def forward(self, collated: dict[str, Tensor]) -> Tensor:
        x = self.stem(collated["mel"], collated["frames"])  # (S, L, D)
        if x.shape[1] > self.max_tokens:
            raise InputError(
                f"audio batch is {x.shape[1]} tokens long; the audio tokenizer takes at most "
                f"{self.max_tokens} (max_seconds {self.preprocessor.max_seconds:g})"
            )
        return x + self.positions[: x.shape[1]].to(x.dtype) + self.modality_embedding
