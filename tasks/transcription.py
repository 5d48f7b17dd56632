"""`Transcription`: speech to text on the shared model, the base of its two kinds.

`ARTranscription` (transcribe_ar.py): the transcript follows the audio as text through the LM
head (prefix-LM mask). `CTCTranscription` (transcribe_ctc.py): a CTC head reads the audio tokens
(bidirectional mask). Both take examples of one audio segment and a transcript, log WER and CER
(torchmetrics) on val and test, and transcribe clips at inference.
"""

from collections.abc import Mapping, Sequence

from torchmetrics import MetricCollection
from torchmetrics.text import CharErrorRate, WordErrorRate

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tasks.task import Task
from multimodal.tokenizer import Preprocessor


def source(example: Example, index: int) -> str:
    return str(example.meta.get("source", f"sample {index}"))


def audio_of(example: Example, index: int) -> Segment:
    """The example's audio segment, its only segment."""
    kinds = [s.modality for s in example.segments]
    if kinds != ["audio"]:
        raise InputError(
            f"transcription {source(example, index)} has segments {kinds}; expected one audio segment"
        )
    return example.segments[0]


def audio_segments(batch: Batch) -> list[Segment]:
    """The batch's clips back as segments, one per sample, in sample order."""
    mel, frames = batch.inputs["audio"]["mel"], batch.inputs["audio"]["frames"]  # (S, M, F), (S,)
    return [Segment("audio", m[:, :f]) for m, f in zip(mel, frames.tolist())]


class Transcription(Task):
    """WER and CER metrics, audio-only inputs; subclasses say how text comes out of the audio.

    Args:
        name: task name (metrics log as "<name>/val_wer", "<name>/val_cer").
        head: name of the head that gives the text.
        mask: the attention mask kind of its batches.
    """

    mode = "transcribe"
    modalities: tuple[str, ...] = ("audio",)  # the tokenizers its batches need

    def __init__(self, name: str, head: str, mask: str):
        metrics = MetricCollection({"wer": WordErrorRate(), "cer": CharErrorRate()})
        super().__init__(name, head, mask, metrics)

    def clips(
        self, examples: Sequence[Example], preprocessors: Mapping[str, Preprocessor]
    ) -> list[Segment]:
        """The examples' audio segments, once the tokenizers and transcripts they need are
        there."""
        for needed in self.modalities:
            if needed not in preprocessors:
                raise InputError(
                    f"{type(self).__name__} needs a {needed!r} tokenizer; the model has "
                    f"{list(preprocessors)}"
                )
        for i, ex in enumerate(examples):
            if not isinstance(ex.target, str) or not ex.target.strip():
                raise InputError(f"transcription {source(ex, i)} has no transcript text")
        return [audio_of(ex, i) for i, ex in enumerate(examples)]

    def refusal(self, model: MultimodalModel, modalities: Sequence[str]) -> str | None:
        if list(modalities) != ["audio"]:
            return f"holds {', '.join(modalities)}; transcription takes audio"
        return None
