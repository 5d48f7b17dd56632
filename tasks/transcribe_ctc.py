"""CTC transcription: a character head over the audio tokens, read bidirectionally.

Each sample is one audio segment; the loss is `torch.nn.functional.ctc_loss` against the
transcript's character ids; decoding is greedy (best path: collapse repeats, drop blanks).
Shapes: B clips, T tokens, L audio tokens (longest clip), D width, C characters + blank.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import move_data_to_device
from torch import Tensor

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.tasks.char_vocab import CharVocab


def ctc_targets(vocab: CharVocab, transcripts: Sequence[str], tokens: Sequence[int], sources):
    """Character ids (B, longest) padded with -100; each must fit its clip's `tokens`."""
    rows = []
    for text, n, source in zip(transcripts, tokens, sources):
        ids = vocab.encode(text, f"transcript of {source}")
        needed = len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))  # repeats need a blank
        if needed > n:
            raise InputError(
                f"transcript of {source} needs {needed} CTC steps but its audio gives {n} tokens"
            )
        rows.append(torch.tensor(ids, dtype=torch.long))
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=-100)


def audio_states(hidden: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
    """Hidden states of each clip's audio tokens (B, L, D) and their counts (B,)."""
    slot = batch.slots["audio"]  # (B, L), one audio segment per sample
    states = hidden.reshape(-1, hidden.shape[-1])[slot.clamp(min=0)]  # (B, L, D)
    return states, (slot >= 0).sum(dim=1)


def ctc_logits(model: MultimodalModel, batch: Batch, head: str) -> tuple[Tensor, Tensor]:
    """Character logits (B, L, C) over the audio tokens and the clips' token counts (B,)."""
    hidden = model(batch, mask="bidirectional")  # (B, T, D)
    states, lengths = audio_states(hidden, batch)
    return model.head(head)(states).float(), lengths


def ctc_loss(logits: Tensor, lengths: Tensor, targets: Tensor) -> Tensor:
    """Mean CTC loss per target character; logits (B, L, C), targets (B, S) padded with -100."""
    log_probs = logits.log_softmax(dim=-1).transpose(0, 1)  # (L, B, C)
    target_lengths = (targets != -100).sum(dim=1)
    return F.ctc_loss(log_probs, targets.clamp(min=0), lengths, target_lengths, blank=0)


def greedy_texts(vocab: CharVocab, logits: Tensor, lengths: Tensor) -> list[str]:
    best = logits.argmax(dim=-1)  # (B, L)
    return [vocab.greedy(row[:n].tolist()) for row, n in zip(best, lengths.tolist())]


@torch.no_grad()
def decode_ctc(model: MultimodalModel, batch: Batch, head: str = "ctc") -> list[str]:
    """Greedy transcripts of a batch of audio-only samples."""
    was_training = model.training
    model.eval()
    logits, lengths = ctc_logits(model, move_data_to_device(batch, model.device), head)
    model.train(was_training)
    return greedy_texts(model.head(head).vocab, logits, lengths)
