"""`ClassifierHead`: one vector per sample, pooled from the shared transformer, to class logits.

Shapes: B samples, T tokens, D width, K classes.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.head import Head
from multimodal.masks import tokens_at

POOLINGS = ("mean", "cls")


class ClassifierHead(Head):
    """Hidden states -> pooled (B, D) -> dropout -> linear -> (B, K) logits.

    Args:
        d_model: width D.
        num_classes: K; may be left out when `labels` is given.
        labels: class names in index order (printed by `mm-infer`); default "0" .. "K-1".
        pooling: "mean" over the sample's non-padding tokens, or "cls": the first token of the
            sample's first `modality` segment (the tokenizer's class token).
        modality: the segment whose first token "cls" pooling reads.
        dropout: on the pooled vector.
    """

    def __init__(
        self,
        d_model: int,
        num_classes: int | None = None,
        labels: Sequence[str] | None = None,
        pooling: str = "mean",
        modality: str = "image",
        dropout: float = 0.0,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise InputError(
                f"classifier pooling {pooling!r} is unknown; expected one of {POOLINGS}"
            )
        if num_classes is None and labels is None:
            raise InputError("classifier head needs 'num_classes' or 'labels'")
        if num_classes is None:
            num_classes = len(labels)
        if labels is not None and len(labels) != num_classes:
            raise InputError(
                f"classifier head has num_classes={num_classes} but {len(labels)} labels"
            )
        self.num_classes = num_classes
        self.labels = [str(x) for x in labels] if labels is not None else None
        self.pooling, self.modality = pooling, modality
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(d_model, num_classes)
        nn.init.zeros_(self.fc.weight)  # start from uniform predictions
        nn.init.zeros_(self.fc.bias)

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels is not None else str(index)

    def cls_columns(self, batch: Batch) -> Tensor:
        """(B,) the column of each sample's class token: its first `modality` segment's first."""
        B, T = batch.shape
        if self.modality not in batch.slots:
            raise InputError(f"'cls' pooling needs a {self.modality!r} segment in every sample")
        first = batch.slots[self.modality][:, 0]  # (S,) flat index of each segment's first token
        index = torch.full((B,), B * T, dtype=first.dtype, device=first.device)
        index = index.scatter_reduce(0, first // T, first, reduce="amin")  # (B,)
        if bool((index == B * T).any()):
            missing = int((index == B * T).nonzero()[0])
            raise InputError(
                f"sample {missing} has no {self.modality!r} segment; 'cls' pooling needs one"
            )
        return index % T

    def columns(self, batch: Batch) -> Tensor | None:
        """(B, 1) the class token's column under "cls" pooling; None (all) under "mean"."""
        return self.cls_columns(batch)[:, None] if self.pooling == "cls" else None

    def pool(self, hidden: Tensor, batch: Batch) -> Tensor:
        """Every column's hidden states (B, T, D) -> (B, D)."""
        if self.pooling == "mean":
            keep = (~batch.padding).to(hidden.dtype)[..., None]  # (B, T, 1)
            return (hidden * keep).sum(1) / keep.sum(1).clamp(min=1)
        return tokens_at(hidden, self.columns(batch))[:, 0]  # (B, D)

    def forward(self, hidden: Tensor, batch: Batch) -> Tensor:
        """Hidden states at `columns(batch)` -> (B, K): the class token's (B, 1, D) under "cls"
        pooling, every column's (B, T, D) under "mean"."""
        pooled = hidden[:, 0] if self.pooling == "cls" else self.pool(hidden, batch)  # (B, D)
        return self.fc(self.drop(pooled))

    def default_task(self, name: str) -> dict:
        return {
            "_target_": "multimodal.tasks.classification.Classification",
            "head": name,
            "num_classes": self.num_classes,
            "confusion": False,
        }
