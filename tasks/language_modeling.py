"""`LanguageModeling`: next-token prediction on the text tokens of a sequence; its inference
continues a prompt of any modalities.

Shapes: B samples, T tokens, N tokens with a target, D width, V text vocabulary.
"""

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.text import Perplexity

from multimodal.batch import Batch
from multimodal.example import Example
from multimodal.generation import generate
from multimodal.inputs import prompt_prefix
from multimodal.model import MultimodalModel
from multimodal.options import Options
from multimodal.segment import Segment
from multimodal.tasks.task import Task


def next_token_targets(batch: Batch) -> Tensor:
    """(B, T) id of the next text token at each position; -100 where the next token is not text
    or is still inside the bidirectional prefix (which sees it), so the loss starts at the
    prefix's last token."""
    ids = batch.gather("text", batch.inputs["text"]["ids"])  # (B, T), -100 off text
    targets = ids.roll(-1, dims=1)
    targets[:, -1] = -100
    prefix = batch.prefix_len if batch.prefix_len.dim() == 2 else batch.prefix_len[:, None]
    inside = batch.positions < (prefix - 1)  # (B, T)
    if batch.documents is not None:  # packed rows: the next token must be in the same sample
        inside |= batch.documents.roll(-1, dims=1) != batch.documents
    return targets.masked_fill(inside, -100)


class LanguageModeling(Task):
    """Causal next-token loss through the LM head; perplexity on val/test. Its inference
    generates the text that follows a prompt.

    Args:
        name: task name (metrics log as "<name>/val_perplexity").
        head: name of the LM head in the model.
        mask: "causal", or "prefix" when examples carry a bidirectional prefix.
    """

    mode = "generate"
    one_prompt = True

    def __init__(self, name: str = "lm", head: str = "lm", mask: str = "causal"):
        metrics = MetricCollection({"perplexity": Perplexity(ignore_index=-100)})
        super().__init__(name, head, mask, metrics)

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

    def can_pack(self) -> bool:
        return True

    def reading(self, model: MultimodalModel, segments: Sequence[Segment]) -> tuple[str, int]:
        """As `predict` reads a prompt: bidirectional through its last non-text input."""
        prefix = prompt_prefix(model, segments)
        return ("prefix" if prefix else "causal"), prefix

    def fits(self, model: MultimodalModel, modalities: Sequence[str]) -> bool:
        """A prompt that ends in text asks for its continuation."""
        return list(modalities[-1:]) == ["text"]

    def predict(
        self, model: MultimodalModel, samples: Sequence[Sequence[Segment]], options: Options
    ) -> list[str]:
        """The text that follows each prompt: everything up to its last non-text input is seen
        bidirectionally, the text after it causally."""
        text = model.tokenizer("text")
        prefix_lens = [prompt_prefix(model, prompt) for prompt in samples]
        ids = generate(
            model,
            samples,
            options.max_new_tokens,
            stop_tokens=[text.eot] if options.stop_at_eot else [],
            mask="prefix" if any(prefix_lens) else "causal",
            prefix_lens=prefix_lens if any(prefix_lens) else None,
            head=self.head,
            **options.sampling(temperature=1.0),
        )
        return [text.decode(row) for row in ids]
