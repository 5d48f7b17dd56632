"""`Task`: how examples of one kind become a batch, which head reads it, its loss and metrics.

A task holds no trainable parameters (heads live in the model); it is an `nn.Module` so that
its torchmetrics move with the model between devices.
"""

from collections.abc import Mapping, Sequence
from functools import partial

from torch import Tensor, nn
from torchmetrics import MetricCollection

from multimodal.batch import Batch, collate
from multimodal.example import Example
from multimodal.model import MultimodalModel
from multimodal.tokenizer import Preprocessor

STAGES = ("train", "val", "test")


class Task(nn.Module):
    """Subclasses set `head` and `mask`, implement `targets`, `step` and `make_metrics`."""

    head: str = ""
    mask: str = "causal"

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.metrics: dict[str, MetricCollection] = {}  # stage -> metrics, e.g. metrics["val"]
        for stage in STAGES:  # registered as submodules "<stage>_metrics" so they follow .to()
            self.metrics[stage] = self.make_metrics().clone(prefix=f"{name}/{stage}_")
            self.add_module(f"{stage}_metrics", self.metrics[stage])

    def make_metrics(self) -> MetricCollection:
        raise NotImplementedError

    def collate(
        self, examples: Sequence[Example], preprocessors: Mapping[str, Preprocessor], max_len: int
    ) -> Batch:
        """Examples to a padded `Batch` with this task's targets under `batch.targets[name]`."""
        batch = collate(
            [ex.segments for ex in examples],
            preprocessors,
            prefix_lens=[ex.prefix_len for ex in examples],
            max_len=max_len,
        )
        batch.targets[self.name] = self.targets(examples, batch)
        return batch

    def collator(self, preprocessors: Mapping[str, Preprocessor], max_len: int):
        """A picklable `examples -> Batch` for DataLoaders, bound to the tokenizers' CPU halves
        and the model's context length (no model: workers receive no weights)."""
        return partial(self.collate, preprocessors=dict(preprocessors), max_len=max_len)

    def targets(self, examples: Sequence[Example], batch: Batch) -> Tensor:
        raise NotImplementedError

    def step(self, model: MultimodalModel, batch: Batch, stage: str) -> Tensor:
        """Loss on `batch`; updates `self.metrics[stage]`."""
        raise NotImplementedError
