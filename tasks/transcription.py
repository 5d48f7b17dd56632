"""`Transcription`: speech to text on the shared model, by an autoregressive or a CTC head.

`head="ar"`: the transcript follows the audio as text through the LM head (prefix-LM mask).
`head="ctc"`: a CTC head reads the audio tokens (bidirectional mask).
Both log WER and CER (torchmetrics) on val and test. `transcribe` is the inference entry point.
"""

from collections.abc import Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.text import CharErrorRate, WordErrorRate

from multimodal.batch import Batch, collate
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tasks.char_vocab import CharVocab
from multimodal.tasks.language_modeling import next_token_targets
from multimodal.tasks.task import Task
from multimodal.tasks.transcribe_ar import ar_sample, decode_ar, reference_texts
from multimodal.tasks.transcribe_ctc import (
    audio_states,
    ctc_logits,
    ctc_loss,
    ctc_targets,
    decode_ctc,
    greedy_texts,
)
from multimodal.tokenizer import Preprocessor

HEADS = ("ar", "ctc")


def check_head(head: str) -> None:
    if head not in HEADS:
        raise InputError(f"transcription head {head!r} is unknown; expected one of {HEADS}")


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
    """Args:
    name: task name (metrics log as "<name>/val_wer", "<name>/val_cer").
    head: "ar" or "ctc".
    vocab: the CTC head's characters (needed for head="ctc"; transcripts are checked against it).
    lm_head, ctc_head: names of those heads in the model.
    max_new_tokens: longest transcript, in text tokens, decoded on val/test (head="ar").
    ctc_weight: head="ar" only: weight of an auxiliary CTC loss through the CTC head on the
        audio tokens (hybrid CTC/attention training); 0 turns it off. Decoding stays
        autoregressive.
    """

    def __init__(
        self,
        name: str = "transcribe",
        head: str = "ar",
        vocab: str | None = None,
        lm_head: str = "lm",
        ctc_head: str = "ctc",
        max_new_tokens: int = 32,
        ctc_weight: float = 0.0,
    ):
        check_head(head)
        self.kind = head
        self.head = lm_head if head == "ar" else ctc_head
        self.ctc_head, self.ctc_weight = ctc_head, ctc_weight
        self.mask = "prefix" if head == "ar" else "bidirectional"
        self.max_new_tokens = max_new_tokens
        self.vocab = None
        if head == "ctc" or ctc_weight > 0:
            if vocab is None:
                raise InputError(
                    f"task.head={head} with ctc_weight {ctc_weight} needs a character vocabulary "
                    "(task.vocab) and a CTC head in the model (model.heads.ctc)"
                    if head == "ar"
                    else "task.head=ctc needs a character vocabulary (task.vocab) and a CTC head "
                    "in the model (model.heads.ctc)"
                )
            self.vocab = CharVocab(vocab)
        super().__init__(name)

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"wer": WordErrorRate(), "cer": CharErrorRate()})

    def collate(
        self, examples: Sequence[Example], preprocessors: Mapping[str, Preprocessor], max_len: int
    ) -> Batch:
        for needed in ("audio", "text") if self.kind == "ar" else ("audio",):
            if needed not in preprocessors:
                raise InputError(
                    f"transcription with head {self.kind!r} needs a {needed!r} tokenizer; the "
                    f"model has {list(preprocessors)}"
                )
        for i, ex in enumerate(examples):
            if not isinstance(ex.target, str) or not ex.target.strip():
                raise InputError(f"transcription {source(ex, i)} has no transcript text")
        audio = [audio_of(ex, i) for i, ex in enumerate(examples)]
        if self.kind == "ar":
            text, audio_tok = preprocessors["text"], preprocessors["audio"]
            samples, prefix_lens = zip(
                *(
                    ar_sample(text, audio_tok.num_tokens(a), a, ex.target)
                    for a, ex in zip(audio, examples)
                )
            )
            batch = collate(samples, preprocessors, list(prefix_lens), max_len=max_len)
        else:
            batch = collate([[a] for a in audio], preprocessors, max_len=max_len)
        batch.targets[self.name] = self.targets(examples, batch)
        return batch

    def targets(self, examples: Sequence[Example], batch: Batch) -> Tensor:
        if self.kind == "ar":
            return next_token_targets(batch)
        tokens = (batch.slots["audio"] >= 0).sum(dim=1).tolist()
        sources = [source(ex, i) for i, ex in enumerate(examples)]
        return ctc_targets(self.vocab, [ex.target for ex in examples], tokens, sources)

    def step(self, model: MultimodalModel, batch: Batch, stage: str) -> Tensor:
        targets = batch.targets[self.name]
        if self.kind == "ar":
            loss, preds, refs = self.ar_step(model, batch, targets, stage)
        else:
            self.check_vocab(model)
            logits, lengths = ctc_logits(model, batch, self.head)  # (B, L, C), (B,)
            loss = ctc_loss(logits, lengths, targets)
            if stage != "train":
                preds = greedy_texts(self.vocab, logits, lengths)
                refs = [self.vocab.decode(row[row != -100].tolist()) for row in targets]
        if stage != "train":
            self.metrics[stage].update(preds, refs)
        return loss

    def ar_step(self, model: MultimodalModel, batch: Batch, targets: Tensor, stage: str):
        """Next-token loss on the transcript (plus the auxiliary CTC loss); decoded texts."""
        hidden = model(batch, mask=self.mask)  # (B, T, D)
        keep = targets != -100
        logits = model.head(self.head)(hidden[keep]).float()  # (N, V): transcript steps only
        loss = F.cross_entropy(logits, targets[keep])
        text = model.tokenizer("text")
        refs = reference_texts(text, targets)
        if self.ctc_weight > 0:
            self.check_vocab(model)
            states, lengths = audio_states(hidden, batch)  # the prefix's audio tokens
            chars = ctc_targets(
                self.vocab, refs, lengths.tolist(), [f"sample {i}" for i in range(len(refs))]
            )
            char_logits = model.head(self.ctc_head)(states).float()  # (B, L, C)
            loss = loss + self.ctc_weight * ctc_loss(char_logits, lengths, chars.to(lengths.device))
        preds = None
        if stage != "train":
            preds = decode_ar(model, audio_segments(batch), self.max_new_tokens, head=self.head)
        return loss, preds, refs

    def check_vocab(self, model: MultimodalModel) -> None:
        head_vocab = model.head(self.ctc_head).vocab.chars
        if head_vocab != self.vocab.chars:
            raise InputError(
                f"task.vocab {self.vocab.chars!r} differs from the CTC head's {head_vocab!r}"
            )


def transcribe(
    model: MultimodalModel,
    clips: Sequence,
    head: str = "ar",
    batch_size: int = 16,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    use_cache: bool = True,
    lm_head: str = "lm",
    ctc_head: str = "ctc",
) -> list[str]:
    """Transcripts of clips (paths or `(array, sample_rate)` pairs), in order.

    head "ar" decodes with the KV cache (greedy at temperature 0, else sampled with top-k/top-p
    and `seed`); head "ctc" decodes greedily.
    """
    check_head(head)
    audio_tok = model.tokenizer("audio")
    segments = [audio_tok.prepare(c) for c in clips]
    texts = []
    for i in range(0, len(segments), batch_size):
        chunk = segments[i : i + batch_size]
        if head == "ar":
            texts += decode_ar(
                model, chunk, max_new_tokens, temperature, top_k, top_p, seed, lm_head, use_cache
            )
        else:
            texts += decode_ctc(model, model.collate([[s] for s in chunk]), ctc_head)
    return texts
