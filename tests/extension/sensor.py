"""A new modality and a new task written outside the package, wired only through config: a 1-D
sensor signal cut into frames, and regression of one number from it.

Shapes: N samples, F frame length, L frames (tokens), S segments, B batch, D width.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from torchmetrics import MeanAbsoluteError, MetricCollection

from multimodal.data.datamodule import ExampleDataModule
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.head import Head
from multimodal.inference_mode import inference_mode
from multimodal.segment import Segment
from multimodal.tasks.task import Task
from multimodal.tokenizer import Preprocessor, Tokenizer


class SensorPreprocessor(Preprocessor):
    """A signal (N,) to frames (L, F), the last zero-padded; at most `max_frames` frames."""

    modality = "sensor"

    def __init__(self, frame: int = 8, max_frames: int = 32):
        self.frame, self.max_frames = frame, max_frames

    def prepare(self, raw) -> Segment:
        try:
            x = torch.as_tensor(np.asarray(raw, dtype=np.float32))
        except (TypeError, ValueError):
            raise InputError("sensor input is not a list of numbers") from None
        if x.ndim != 1 or not 0 < x.numel() <= self.frame * self.max_frames:
            raise InputError(
                f"sensor input has shape {tuple(x.shape)}; expected (1..{self.frame * self.max_frames},)"
            )
        if not torch.isfinite(x).all():
            raise InputError("sensor input holds NaN or infinite values")
        frames = F.pad(x, (0, -x.numel() % self.frame)).view(-1, self.frame)  # (L, F)
        return Segment("sensor", frames, {})

    def num_tokens(self, seg: Segment) -> int:
        return seg.data.shape[0]

    def collate(self, segs: list[Segment]) -> dict[str, Tensor]:
        return {"frames": nn.utils.rnn.pad_sequence([s.data for s in segs], batch_first=True)}


class SensorTokenizer(Tokenizer):
    """Frames to vectors: a linear map of each frame plus a learned position per frame."""

    preprocessor_class = SensorPreprocessor

    def __init__(self, d_model: int, **preprocess):
        super().__init__(d_model, SensorPreprocessor(**preprocess))
        self.proj = nn.Linear(self.preprocessor.frame, d_model)
        self.position = nn.Parameter(torch.zeros(self.preprocessor.max_frames, d_model))

    def forward(self, collated: dict[str, Tensor]) -> Tensor:
        frames = collated["frames"]  # (S, L, F)
        return self.proj(frames) + self.position[: frames.shape[1]] + self.modality_embedding


class RegressionHead(Head):
    """The mean of the non-padding hidden states to one number, (B,)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.fc = nn.Linear(d_model, 1)

    def forward(self, hidden: Tensor, batch=None) -> Tensor:
        keep = (~batch.padding).unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * keep).sum(1) / keep.sum(1)  # (B, D)
        return self.fc(pooled).squeeze(-1)


class Regression(Task):
    """Mean squared error on one number per sample; mean absolute error as its metric."""

    mode = "regress"

    def __init__(self, name: str = "regress", head: str = "regress"):
        super().__init__(
            name, head, "bidirectional", MetricCollection({"mae": MeanAbsoluteError()})
        )

    def targets(self, examples, batch) -> Tensor:
        return torch.tensor([float(ex.target) for ex in examples])

    def step(self, model, batch, stage: str) -> Tensor:
        pred, target = self.outputs(model, batch), batch.targets[self.name]
        self.metrics[stage].update(pred.detach(), target)
        return F.mse_loss(pred, target)

    def refusal(self, model, modalities) -> str | None:
        return None if list(modalities) == ["sensor"] else "is not one sensor signal"

    def predict(self, model, samples, options) -> list[float]:
        with inference_mode(model):
            return self.outputs(model, model.collate(samples)).tolist()

    def show(self, result: float) -> str:
        return f"{result:.3f}"


def signal(frequency: float, phase: float, length: int = 96) -> np.ndarray:
    t = np.arange(length)
    return np.sin(2 * math.pi * frequency * t + phase).astype(np.float32)


class Signals(Dataset):
    """Sine waves; the target is the frequency (cycles per sample) times 10."""

    def __init__(self, size: int, seed: int):
        rng = np.random.default_rng(seed)
        self.items = [(rng.uniform(0.02, 0.2), rng.uniform(0, 2 * math.pi)) for _ in range(size)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Example:
        f, phase = self.items[i]
        return Example([self.preprocessor.prepare(signal(f, phase))], target=10 * f)


class SensorDataModule(ExampleDataModule):
    """Synthetic signals: `train_size` for training, `val_size` for validation."""

    def __init__(self, train_size: int = 256, val_size: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.sizes = {"train": train_size, "val": val_size}

    def setup(self, stage=None) -> None:
        for n, (split, size) in enumerate(self.sizes.items()):
            data = Signals(size, seed=n)
            data.preprocessor = self.preprocessors["sensor"]
            self.splits[split] = data
