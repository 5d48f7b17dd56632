"""`Head`: the one interface of task heads, `head(hidden, batch)`.

A head reads the backbone's hidden states and gives a task's outputs (logits). It may name the
columns it reads (`columns`), so that the backbone's last block computes only those; it may
share a tokenizer's embedding matrix (`tie_to`), which `MultimodalModel` ties when it is built;
and it may name the task that reads it when a model file stores none (`default_task`).
Shapes: B samples, T tokens, K columns read, D width.
"""

from torch import Tensor, nn

from multimodal.batch import Batch


class Head(nn.Module):
    """Base class of heads: `forward(hidden, batch)` with hidden (B, K, D) at `columns(batch)`,
    or (B, T, D), every column, when `columns` gives None."""

    tie_to: str | None = None  # a tokenizer whose embedding matrix this head uses as `weight`

    def columns(self, batch: Batch) -> Tensor | None:
        """(B, K) the columns of `batch` whose hidden states the head reads; None: all of them."""
        return None

    def forward(self, hidden: Tensor, batch: Batch | None = None) -> Tensor:
        raise NotImplementedError

    def default_task(self, name: str) -> dict | None:
        """The config (`_target_` and arguments but its name) of the task that reads this head,
        named `name` in the model, when a model file stores none; None for no such task."""
        return None
