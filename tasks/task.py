"""`Task`: how examples of one kind become a batch, which head reads it, its loss and metrics,
and its inference.

A task holds no trainable parameters (heads live in the model); it is an `nn.Module` so that
its torchmetrics move with the model between devices. `multimodal.inference.Predictor` and
`mm-infer` reach a model's tasks only through this interface (`mode`, `one_prompt`, `refusal`,
`fits`, `predict`, `show`), never by their kind.
"""

from collections.abc import Mapping, Sequence
from functools import partial

from torch import Tensor, nn
from torchmetrics import MetricCollection

from multimodal.batch import Batch, collate
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.inputs import prompt_prefix
from multimodal.model import MultimodalModel
from multimodal.options import Options
from multimodal.packing import pack as packed
from multimodal.segment import Segment
from multimodal.tokenizer import Preprocessor

STAGES = ("train", "val", "test")


def rows(
    samples: Sequence[Sequence[Segment]],
    preprocessors: Mapping[str, Preprocessor],
    prefix_lens: Sequence[int],
    max_len: int,
    pack: bool,
) -> Batch:
    """Samples as one padded row each, or with `pack` several to a row of `max_len` tokens."""
    if pack:
        return packed(samples, preprocessors, max_len, prefix_lens)
    return collate(samples, preprocessors, prefix_lens, max_len=max_len)


class Task(nn.Module):
    """Subclasses implement `targets` and `step` (training) and `predict` (inference).

    Args:
        name: key of `batch.targets` and prefix of the metrics ("<name>/val_acc").
        head: name of the model's head the task reads.
        mask: attention mask kind of its batches: "causal", "bidirectional" or "prefix".
        metrics: its metrics, cloned for each stage (`self.metrics["val"]`).
    """

    mode: str = ""  # the inference `predict` gives, as mm-infer names it: "generate", ...
    one_prompt: bool = False  # inference reads all inputs as one sample, not each on its own

    def __init__(self, name: str, head: str, mask: str, metrics: MetricCollection):
        super().__init__()
        self.name, self.head, self.mask = name, head, mask
        self.metrics: dict[str, MetricCollection] = {}  # stage -> metrics, e.g. metrics["val"]
        for stage in STAGES:  # registered as submodules "<stage>_metrics" so they follow .to()
            self.metrics[stage] = metrics.clone(prefix=f"{name}/{stage}_")
            self.add_module(f"{stage}_metrics", self.metrics[stage])

    def collate(
        self,
        examples: Sequence[Example],
        preprocessors: Mapping[str, Preprocessor],
        max_len: int,
        pack: bool = False,
    ) -> Batch:
        """Examples to a padded `Batch` (with `pack`, packed into rows of `max_len` tokens,
        `multimodal.packing`) with this task's targets under `batch.targets[name]`."""
        samples, prefix_lens = [ex.segments for ex in examples], [ex.prefix_len for ex in examples]
        batch = rows(samples, preprocessors, prefix_lens, max_len, pack)
        batch.targets[self.name] = self.targets(examples, batch)
        return batch

    def can_pack(self) -> bool:
        """Whether its targets and loss hold for packed rows (several samples in a row)."""
        return False

    def collator(self, preprocessors: Mapping[str, Preprocessor], max_len: int, pack=False):
        """A picklable `examples -> Batch` for DataLoaders, bound to the tokenizers' CPU halves
        and the model's context length (no model: workers receive no weights); `pack`: rows of
        `max_len` tokens holding several samples each, where the task can read them."""
        if pack and not self.can_pack():
            raise InputError(
                f"task {self.name!r} cannot pack its batches: its targets or loss read one "
                "sample per row; set pack: false"
            )
        bound = {"preprocessors": dict(preprocessors), "max_len": max_len}
        # only packing tasks take `pack`: a task's own collate may not
        return partial(self.collate, **bound, pack=True) if pack else partial(self.collate, **bound)

    def targets(self, examples: Sequence[Example], batch: Batch) -> Tensor:
        raise NotImplementedError

    def step(self, model: MultimodalModel, batch: Batch, stage: str) -> Tensor:
        """Loss on `batch`; updates `self.metrics[stage]`."""
        raise NotImplementedError

    def outputs(self, model: MultimodalModel, batch: Batch) -> Tensor:
        """The head's outputs over `batch`, `head(hidden, batch)`; the backbone's last block
        computes only the columns the head reads (`Head.columns`)."""
        head = model.head(self.head)
        return head(model(batch, mask=self.mask, keep=head.columns(batch)), batch)

    # --- inference ----------------------------------------------------------------------------
    def refusal(self, model: MultimodalModel, modalities: Sequence[str]) -> str | None:
        """Why one sample of these modalities, in order, is no input for `predict`, as the end
        of a sentence that names it ("holds text; ..."); None when it is one."""
        return None

    def reading(self, model: MultimodalModel, segments: Sequence[Segment]) -> tuple[str, int]:
        """The mask kind and bidirectional prefix (in the segments' tokens) that its inference
        reads one sample with; the prefix spans through the last non-text segment."""
        return self.mask, prompt_prefix(model, segments) if self.mask == "prefix" else 0

    def fits(self, model: MultimodalModel, modalities: Sequence[str]) -> bool:
        """Whether such a sample is plainly an input for this task: how mm-infer picks a task
        when no mode is given. By default: whenever `refusal` finds nothing."""
        return self.refusal(model, modalities) is None

    def predict(
        self, model: MultimodalModel, samples: Sequence[Sequence[Segment]], options: Options
    ) -> list:
        """One result per sample (each a list of prepared segments), in order."""
        raise NotImplementedError

    def show(self, result) -> str:
        """One result of `predict` as a line of text."""
        return str(result)
