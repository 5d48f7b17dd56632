"""Autoregressive transcription: the transcript as text after a bidirectional audio prefix.

A sample is `<|begin_audio|> [audio tokens] <|end_audio|> transcript <|endoftext|>`; the
prefix (through `<|end_audio|>`) is seen bidirectionally, the transcript causally, and the loss
is next-token cross-entropy on the transcript and `<|endoftext|>` only. Decoding is the shared
`multimodal.generation.generate` with the KV cache.
Shapes: B samples, T tokens, D width, V text vocabulary.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.generation import generate
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tasks.language_modeling import next_token_targets
from multimodal.tokenizers.text import TextTokenizer

BEGIN_AUDIO, END_AUDIO = "<|begin_audio|>", "<|end_audio|>"


def ar_sample(
    text: TextTokenizer, audio_tokens: int, audio: Segment, transcript: str | None = None
) -> tuple[list[Segment], int]:
    """Segments of one sample (the prompt alone when `transcript` is None) and its prefix length."""
    tail = [text.special(END_AUDIO)]
    if transcript is not None:
        tail += text.encode(" " + transcript.strip()) + [text.eot]
    segments = [
        Segment("text", torch.tensor([text.special(BEGIN_AUDIO)])),
        audio,
        Segment("text", torch.tensor(tail)),
    ]
    return segments, audio_tokens + 2


def ar_targets(batch: Batch) -> Tensor:
    """(B, T) next text token after `<|end_audio|>` and each transcript token, -100 elsewhere."""
    targets = next_token_targets(batch)
    inside = batch.positions < (batch.prefix_len[:, None] - 1)  # the prefix sees its own next token
    return targets.masked_fill(inside, -100)


def reference_texts(text: TextTokenizer, targets: Tensor) -> list[str]:
    """The transcripts a batch's targets hold, without `<|endoftext|>`."""
    return [
        text.decode([i for i in row.tolist() if i not in (-100, text.eot)]).strip()
        for row in targets
    ]


@torch.no_grad()
def decode_ar(
    model: MultimodalModel,
    audio: Sequence[Segment],
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    head: str = "lm",
    use_cache: bool = True,
) -> list[str]:
    """Transcripts of audio segments: greedy at temperature 0, else sampled (top-k, top-p)."""
    text, audio_tok = model.tokenizer("text"), model.tokenizer("audio")
    prompts, prefix_lens = zip(*(ar_sample(text, audio_tok.num_tokens(s), s) for s in audio))
    budget = model.context_length - max(prefix_lens)
    if budget < 1:
        raise InputError(
            f"a clip of {max(prefix_lens) - 2} audio tokens leaves no room to transcribe in the "
            f"model's context of {model.context_length} tokens"
        )
    ids = generate(
        model,
        prompts,
        min(max_new_tokens, budget),
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        stop_tokens=[text.eot],
        seed=seed,
        use_cache=use_cache,
        mask="prefix",
        prefix_lens=list(prefix_lens),
        head=head,
    )
    return [text.decode(row).strip() for row in ids]
