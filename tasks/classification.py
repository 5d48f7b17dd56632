"""`Classification`: one class per sample, read by a `ClassifierHead` under a bidirectional mask.

Metrics per stage: accuracy, and the confusion matrix as one scalar per cell
(`confusion_<true>_<predicted>`, counts) so that every logger records it each epoch.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.model import MultimodalModel
from multimodal.tasks.classifier_head import ClassifierHead
from multimodal.tasks.task import Task


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


class Classification(Task):
    """Cross-entropy (optionally label-smoothed) on the head's logits.

    Args:
        name: task name (key of `batch.targets`, prefix of its metrics).
        num_classes: K, as in the head.
        head: name of the model's `ClassifierHead`.
        label_smoothing: cross-entropy label smoothing in [0, 1).
        confusion: log the confusion matrix cells (K * K scalars per stage).
    """

    mask = "bidirectional"

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
        self.num_classes, self.confusion = num_classes, confusion  # read by make_metrics
        super().__init__(name)
        self.head = head
        self.label_smoothing = label_smoothing

    def make_metrics(self) -> MetricCollection:
        metrics = {"acc": MulticlassAccuracy(self.num_classes, average="micro")}
        if self.confusion:
            metrics["confusion"] = ConfusionCells(self.num_classes)
        return MetricCollection(metrics)

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

    def logits(self, model: MultimodalModel, batch: Batch) -> Tensor:
        """(B, K) class logits of the model's head for this task."""
        head = model.head(self.head)
        check_pooling(model, head)
        return head.logits(model, batch, self.mask)

    def step(self, model: MultimodalModel, batch: Batch, stage: str) -> Tensor:
        logits = self.logits(model, batch).float()  # (B, K)
        y = batch.targets[self.name]  # (B,)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.metrics[stage].update(logits.detach(), y)
        return loss


@torch.no_grad()
def classify(
    model: MultimodalModel, images: Sequence, top_k: int = 5, head: str = "classifier"
) -> list[list[tuple[str, float]]]:
    """Top-k (label, probability) per image (paths, PIL images, tensors or arrays)."""
    clf = model.head(head)
    if not isinstance(clf, ClassifierHead):
        raise InputError(f"head {head!r} is a {type(clf).__name__}, not a classifier head")
    tok = model.tokenizer(clf.modality)
    samples = [[tok.prepare(img)] for img in images]
    batch = move_data_to_device(model.collate(samples), model.device)
    check_pooling(model, clf)
    probs = clf.logits(model, batch).float().softmax(-1)  # (B, K)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    return [
        [(clf.label(i), p) for i, p in zip(idx.tolist(), val.tolist())]
        for idx, val in zip(top.indices, top.values)
    ]
