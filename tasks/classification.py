"""`Classification`: one class per sample, read by a `ClassifierHead` under a bidirectional mask;
its inference gives the likeliest labels.

Metrics per stage: accuracy, and the confusion matrix as one scalar per cell
(`confusion_<true>_<predicted>`, counts) so that every logger records it each epoch.
Shapes: B samples, K classes.
"""

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.inference_mode import inference_mode
from multimodal.model import MultimodalModel
from multimodal.options import Options
from multimodal.segment import Segment
from multimodal.tasks.classifier_head import ClassifierHead
from multimodal.tasks.task import Task


class Label(NamedTuple):
    """One of a sample's likeliest classes."""

    label: str
    probability: float


def check_pooling(model: MultimodalModel, head: ClassifierHead) -> None:
    """'cls' pooling reads a class token, so the pooled modality's tokenizer must add one."""
    if (
        head.pooling == "cls"
        and getattr(model.tokenizer(head.modality), "class_token", None) is None
    ):
        raise InputError(
            f"the classifier pools the {head.modality!r} class token, but that tokenizer has "
            "class_token: false; set it true or use pooling: mean"
        )


class ConfusionCells(MulticlassConfusionMatrix):
    """torchmetrics' confusion matrix, computed as {"confusion_<true>_<predicted>": count}."""

    def compute(self) -> dict[str, Tensor]:
        matrix = super().compute().float()  # (K, K), rows true, columns predicted
        K = matrix.shape[0]
        return {f"confusion_{t}_{p}": matrix[t, p] for t in range(K) for p in range(K)}


def classification_metrics(num_classes: int, confusion: bool) -> MetricCollection:
    metrics = {"acc": MulticlassAccuracy(num_classes, average="micro")}
    if confusion:
        metrics["confusion"] = ConfusionCells(num_classes)
    return MetricCollection(metrics)


class Classification(Task):
    """Cross-entropy (optionally label-smoothed) on the head's logits.

    Args:
        name: task name (key of `batch.targets`, prefix of its metrics).
        num_classes: K, as in the head.
        head: name of the model's `ClassifierHead`.
        label_smoothing: cross-entropy label smoothing in [0, 1).
        confusion: log the confusion matrix cells (K * K scalars per stage).
    """

    mode = "classify"

    def __init__(
        self,
        name: str = "classify",
        num_classes: int = 10,
        head: str = "classifier",
        label_smoothing: float = 0.0,
        confusion: bool = True,
    ):
        if not 0.0 <= label_smoothing < 1.0:
            raise InputError(f"task.label_smoothing must lie in [0, 1), got {label_smoothing}")
        super().__init__(
            name, head, "bidirectional", classification_metrics(num_classes, confusion)
        )
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    def targets(self, examples: Sequence[Example], batch: Batch) -> Tensor:
        labels = []
        for i, ex in enumerate(examples):
            y = ex.target
            if isinstance(y, Tensor) and y.numel() == 1:
                y = y.item()
            if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < self.num_classes:
                where = ex.meta.get("path", f"sample {i}")
                raise InputError(
                    f"{where} has target {y!r}; expected a class index in [0, {self.num_classes})"
                )
            labels.append(y)
        return torch.tensor(labels, dtype=torch.long)  # (B,)

    def classifier(self, model: MultimodalModel) -> ClassifierHead:
        head = model.head(self.head)
        if not isinstance(head, ClassifierHead):
            raise InputError(
                f"head {self.head!r} is a {type(head).__name__}, not a classifier head"
            )
        return head

    def logits(self, model: MultimodalModel, batch: Batch) -> Tensor:
        """(B, K) class logits of the model's head for this task."""
        check_pooling(model, self.classifier(model))
        return self.outputs(model, batch)

    def step(self, model: MultimodalModel, batch: Batch, stage: str) -> Tensor:
        logits = self.logits(model, batch).float()  # (B, K)
        y = batch.targets[self.name]  # (B,)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.metrics[stage].update(logits.detach(), y)
        return loss

    def refusal(self, model: MultimodalModel, modalities: Sequence[str]) -> str | None:
        modality = self.classifier(model).modality
        if modality not in modalities:
            return f"holds {', '.join(modalities)}; head {self.head!r} classifies {modality}"
        return None

    def fits(self, model: MultimodalModel, modalities: Sequence[str]) -> bool:
        """One input of the modality the head classifies."""
        return list(modalities) == [self.classifier(model).modality]

    def predict(
        self, model: MultimodalModel, samples: Sequence[Sequence[Segment]], options: Options
    ) -> list[list[Label]]:
        """The `options.labels` likeliest labels of each sample, likeliest first."""
        head = self.classifier(model)
        with inference_mode(model):
            batch = move_data_to_device(model.collate(samples), model.device)
            probs = self.logits(model, batch).float().softmax(-1)  # (B, K)
        top = probs.topk(min(options.labels, probs.shape[-1]), dim=-1)
        return [
            [Label(head.label(i), p) for i, p in zip(idx.tolist(), val.tolist())]
            for idx, val in zip(top.indices, top.values)
        ]

    def show(self, result: list[Label]) -> str:
        return ", ".join(f"{label} {p:.3f}" for label, p in result)
