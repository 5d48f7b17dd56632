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

from multimodal.errors import InputError
from multimodal.generation import generate
from multimodal.model import MultimodalModel
from multimodal.segment import Segment
from multimodal.tokenizers.text import TextTokenizer

BEGIN_AUDIO, END_AUDIO = "<|begin_audio|>", "<|end_audio|>"


def ar_sample(
    text: TextTokenizer, audio_tokens: int, audio: Segment, transcript: str | None = None
) -> tuple[list[Segment], int]:
    """Segments of one sample (the prompt alone when `transcript` is None) and its prefix length;
    `collate` adds the audio's boundary markers, the end marker inside the prefix."""
    if text.markers("audio") is None:
        raise InputError(
            f"the text vocabulary has no {BEGIN_AUDIO} and {END_AUDIO} tokens, which "
            "autoregressive transcription needs"
        )
    if transcript is None:
        return [audio], audio_tokens
    ids = text.encode(" " + transcript.strip()) + [text.eot]
    return [audio, Segment("text", torch.tensor(ids))], audio_tokens


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
    budget = model.context_length - max(prefix_lens) - 2  # 2: the audio's boundary markers
    if budget < 1:
        raise InputError(
            f"a clip of {max(prefix_lens)} audio tokens leaves no room to transcribe in the "
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
