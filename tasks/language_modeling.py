"""`LanguageModeling`: next-token prediction on the text tokens of a sequence."""

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.text import Perplexity

from multimodal.batch import Batch
from multimodal.example import Example
from multimodal.model import MultimodalModel
from multimodal.tasks.task import Task


def next_token_targets(batch: Batch) -> Tensor:
    """(B, T) id of the next text token at each position; -100 where the next token is not text
    or is still inside the bidirectional prefix (which sees it), so the loss starts at the
    prefix's last token."""
    ids = batch.gather("text", batch.inputs["text"]["ids"])  # (B, T), -100 off text
    targets = ids.roll(-1, dims=1)
    targets[:, -1] = -100
    inside = batch.positions < (batch.prefix_len[:, None] - 1)  # (B, T)
    return targets.masked_fill(inside, -100)


class LanguageModeling(Task):
    """Causal next-token loss through the LM head; perplexity on val/test.

    Args:
        name: task name (metrics log as "<name>/val_perplexity").
        head: name of the LM head in the model.
        mask: "causal", or "prefix" when examples carry a bidirectional prefix.
    """

    def __init__(self, name: str = "lm", head: str = "lm", mask: str = "causal"):
        self.head, self.mask = head, mask
        super().__init__(name)

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"perplexity": Perplexity(ignore_index=-100)})

    def targets(self, examples: Sequence[Example], batch: Batch) -> Tensor:
        return next_token_targets(batch)

    def step(self, model: MultimodalModel, batch: Batch, stage: str) -> Tensor:
        targets = batch.targets[self.name]  # (B, T)
        hidden = model(batch, mask=self.mask)  # (B, T, D)
        keep = targets != -100
        logits = model.head(self.head)(hidden[keep])  # (N, V): only where a target exists
        loss = F.cross_entropy(logits.float(), targets[keep])
        if stage != "train":
            self.metrics[stage].update(logits[None].float(), targets[keep][None])
        return loss
