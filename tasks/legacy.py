"""Task configs that older model files store, built as the classes that replaced them."""

from multimodal.errors import InputError
from multimodal.tasks.transcribe_ar import ARTranscription
from multimodal.tasks.transcribe_ctc import CTCTranscription
from multimodal.tasks.transcription import Transcription

KINDS = ("ar", "ctc")


def transcription(
    name: str = "transcribe",
    head: str = "ar",
    vocab: str | None = None,
    lm_head: str = "lm",
    ctc_head: str = "ctc",
    max_new_tokens: int = 32,
    ctc_weight: float = 0.0,
) -> Transcription:
    """What `multimodal.tasks.transcription.Transcription` with `head: ar | ctc` (the kind of
    transcription, its heads named by `lm_head` and `ctc_head`) now is."""
    if head not in KINDS:
        raise InputError(f"transcription head {head!r} is unknown; expected one of {KINDS}")
    if head == "ctc":
        return CTCTranscription(name, ctc_head, vocab)
    return ARTranscription(name, lm_head, vocab, ctc_head, max_new_tokens, ctc_weight)
