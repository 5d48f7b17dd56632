"""`AudioPreprocessor`: a clip to Whisper log-mel frames, and their batch.

Shapes: S clips in a batch, M mels, F frames (10 ms each), L = ceil(F / 2) tokens (20 ms each).
"""

import math

import torch
from torch import Tensor

from multimodal.errors import InputError
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor
from multimodal.tokenizers.audio_features import LogMel
from multimodal.tokenizers.audio_io import load_audio
from multimodal.tokenizers.conv_stem import ConvStem


class AudioPreprocessor(Preprocessor):
    """File or (array, rate) -> mono at `sample_rate` -> log-mel (M, F).

    Args:
        sample_rate: rate the features are computed at; inputs are resampled to it.
        n_mels, n_fft, hop_length: log-mel parameters (Whisper's by default).
        max_seconds: longest clip accepted; a longer one raises `InputError`, checked from the
            file header or array shape before anything is read or resampled.

    Inputs (see `audio_io`): sample rates from 1,000 to 384,000 Hz (whole numbers), at most 8
    channels, float samples finite and within +-1000 (integer PCM is scaled); anything else
    raises `InputError`. At any rate in that range, a 30 s clip costs at most about 0.5 s and
    160 MB more than a 16 kHz one (`resample`; the worst is 383999 Hz, on one thread).
    """

    modality = "audio"

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 80,
        n_fft: int = 400,
        hop_length: int = 160,
        max_seconds: float = 30.0,
    ):
        if max_seconds <= 0:
            raise InputError(f"audio tokenizer max_seconds must be positive, got {max_seconds}")
        self.sample_rate, self.n_mels, self.max_seconds = sample_rate, n_mels, max_seconds
        self.features = LogMel(sample_rate, n_mels, n_fft, hop_length)
        self.min_samples = n_fft
        self.max_tokens = ConvStem.out_length(self.features.num_frames(self.max_samples))

    @property
    def max_samples(self) -> int:
        """Most samples an accepted clip has at `sample_rate` (resampling rounds up)."""
        return math.ceil(self.max_seconds * self.sample_rate)

    def prepare(self, raw) -> Segment:
        """A WAV/FLAC/OGG path or `(array, sample_rate)` to an audio segment of log-mel (M, F)."""
        wave, name = load_audio(raw, self.sample_rate, self.max_seconds)  # (N,)
        seconds = wave.numel() / self.sample_rate
        if wave.numel() < self.min_samples:
            raise InputError(
                f"audio {name} is {1000 * seconds:.1f} ms long; expected at least "
                f"{1000 * self.min_samples / self.sample_rate:g} ms"
            )
        mel = self.features(wave)  # (M, F)
        if not torch.isfinite(mel).all():
            raise InputError(f"audio {name} gives non-finite log-mel features")
        return Segment("audio", mel, {"source": name, "seconds": seconds})

    def num_tokens(self, seg: Segment) -> int:
        return ConvStem.out_length(seg.data.shape[-1])

    def describe(self, meta: dict, collated: dict[str, Tensor], row: int, count: int) -> list:
        """Each token's time span in seconds: the conv stem's stride, two frames of `hop_length`
        samples; the last ends with the clip."""
        step = 2 * self.features.hop_length / self.sample_rate
        end = meta.get("seconds", count * step)
        out = []
        for i in range(count):
            span = (i * step, min((i + 1) * step, end))
            out.append({"kind": "frames", "label": f"{span[0]:.2f}-{span[1]:.2f} s", "span": span})
        return out

    def collate(self, segs: list[Segment]) -> dict[str, Tensor]:
        """{"mel": (S, M, F) zero-padded, "frames": (S,) each clip's frames}."""
        for seg in segs:
            if seg.data.dim() != 2 or seg.data.shape[0] != self.n_mels:
                raise InputError(
                    f"audio segment from {seg.meta.get('source', 'an array')} has shape "
                    f"{tuple(seg.data.shape)}; expected ({self.n_mels}, frames)"
                )
        frames = torch.tensor([s.data.shape[1] for s in segs], dtype=torch.long)  # (S,)
        mel = seg.data.new_zeros(len(segs), self.n_mels, int(frames.max()))  # (S, M, F)
        for i, seg in enumerate(segs):
            mel[i, :, : seg.data.shape[1]] = seg.data
        return {"mel": mel, "frames": frames}
