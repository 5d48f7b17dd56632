"""`CTCTranscription`: a character head over the audio tokens, read bidirectionally.

Each sample is one audio segment; the loss is `torch.nn.functional.ctc_loss` against the
transcript's character ids; decoding is greedy (best path: collapse repeats, drop blanks).
Shapes: B clips, L audio tokens (longest clip), C characters + blank.
"""

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor, nn

from multimodal.batch import Batch, collate
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.inference_mode import inference_mode
from multimodal.model import MultimodalModel
from multimodal.options import Options
from multimodal.segment import Segment
from multimodal.tasks.char_vocab import CharVocab
from multimodal.tasks.transcription import Transcription, source
from multimodal.tokenizer import Preprocessor


def ctc_targets(vocab: CharVocab, transcripts: Sequence[str], tokens: Sequence[int], sources):
    """Character ids (B, longest) padded with -100; each must fit its clip's `tokens`."""
    rows = []
    for text, n, where in zip(transcripts, tokens, sources):
        ids = vocab.encode(text, f"transcript of {where}")
        needed = len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))  # repeats need a blank
        if needed > n:
            raise InputError(
                f"transcript of {where} needs {needed} CTC steps but its audio gives {n} tokens"
            )
        rows.append(torch.tensor(ids, dtype=torch.long))
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=-100)


def audio_lengths(batch: Batch) -> Tensor:
    """(B,) audio tokens of each sample's one clip."""
    return (batch.slots["audio"] >= 0).sum(dim=1)


def ctc_loss(logits: Tensor, lengths: Tensor, targets: Tensor) -> Tensor:
    """Mean CTC loss per target character; logits (B, L, C), targets (B, S) padded with -100."""
    log_probs = logits.log_softmax(dim=-1).transpose(0, 1)  # (L, B, C)
    target_lengths = (targets != -100).sum(dim=1)
    return F.ctc_loss(log_probs, targets.clamp(min=0), lengths, target_lengths, blank=0)


def greedy_texts(vocab: CharVocab, logits: Tensor, lengths: Tensor) -> list[str]:
    best = logits.argmax(dim=-1)  # (B, L)
    return [vocab.greedy(row[:n].tolist()) for row, n in zip(best, lengths.tolist())]


def check_vocab(head: nn.Module, vocab: CharVocab) -> None:
    """The task's characters are the CTC head's."""
    if head.vocab.chars != vocab.chars:
        raise InputError(
            f"task.vocab {vocab.chars!r} differs from the CTC head's {head.vocab.chars!r}"
        )


class CTCTranscription(Transcription):
    """Args:
    name: task name (metrics log as "<name>/val_wer", "<name>/val_cer").
    head: name of the CTC head.
    vocab: its characters (transcripts are checked against them).
    """

    def __init__(self, name: str = "transcribe", head: str = "ctc", vocab: str | None = None):
        if vocab is None:
            raise InputError(
                "CTC transcription needs a character vocabulary (task.vocab) and a CTC head in "
                "the model (model.heads.ctc)"
            )
        super().__init__(name, head, "bidirectional")
        self.vocab = CharVocab(vocab)

    def collate(
        self, examples: Sequence[Example], preprocessors: Mapping[str, Preprocessor], max_len: int
    ) -> Batch:
        audio = self.clips(examples, preprocessors)
        batch = collate([[a] for a in audio], preprocessors, max_len=max_len)
        batch.targets[self.name] = self.targets(examples, batch)
        return batch

    def targets(self, examples: Sequence[Example], batch: Batch) -> Tensor:
        tokens = audio_lengths(batch).tolist()
        sources = [source(ex, i) for i, ex in enumerate(examples)]
        return ctc_targets(self.vocab, [ex.target for ex in examples], tokens, sources)

    def step(self, model: MultimodalModel, batch: Batch, stage: str) -> Tensor:
        check_vocab(model.head(self.head), self.vocab)
        targets = batch.targets[self.name]  # (B, S)
        logits, lengths = self.outputs(model, batch).float(), audio_lengths(batch)  # (B, L, C)
        loss = ctc_loss(logits, lengths, targets)
        if stage != "train":
            preds = greedy_texts(self.vocab, logits, lengths)
            refs = [self.vocab.decode(row[row != -100].tolist()) for row in targets]
            self.metrics[stage].update(preds, refs)
        return loss

    def predict(
        self, model: MultimodalModel, samples: Sequence[Sequence[Segment]], options: Options
    ) -> list[str]:
        """The greedy transcript of each sample's one audio segment."""
        with inference_mode(model):
            batch = move_data_to_device(model.collate(samples), model.device)
            logits = self.outputs(model, batch)  # (B, L, C)
        return greedy_texts(model.head(self.head).vocab, logits, audio_lengths(batch))
