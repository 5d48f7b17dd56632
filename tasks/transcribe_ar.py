"""`ARTranscription`: the transcript as text after a bidirectional audio prefix.

A sample is `<|begin_audio|> [audio tokens] <|end_audio|> transcript <|endoftext|>`; the
prefix (through `<|end_audio|>`) is seen bidirectionally, the transcript causally, and the loss
is next-token cross-entropy on the transcript and `<|endoftext|>` only. Decoding is the shared
`multimodal.generation.generate` with the KV cache.
Shapes: B samples, T tokens, N transcript tokens, L audio tokens, D width, V text vocabulary,
C characters + blank.
"""

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from multimodal.batch import Batch
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.generation import generate
from multimodal.masks import tokens_at
from multimodal.model import MultimodalModel
from multimodal.options import Options
from multimodal.segment import Segment
from multimodal.tasks.char_vocab import CharVocab
from multimodal.tasks.language_modeling import next_token_targets
from multimodal.tasks.task import rows
from multimodal.tasks.transcribe_ctc import audio_lengths, check_vocab, ctc_loss, ctc_targets
from multimodal.tasks.transcription import Transcription, audio_segments
from multimodal.tokenizer import Preprocessor
from multimodal.tokenizers.text_preprocessor import TextPreprocessor

BEGIN_AUDIO, END_AUDIO = "<|begin_audio|>", "<|end_audio|>"


def ar_sample(
    text: TextPreprocessor, audio_tokens: int, audio: Segment, transcript: str | None = None
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


def reference_texts(text: TextPreprocessor, targets: Tensor) -> list[str]:
    """The transcripts a batch's targets hold, without `<|endoftext|>`."""
    return [
        text.decode([i for i in row.tolist() if i not in (-100, text.eot)]).strip()
        for row in targets
    ]


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
    lockstep: bool = False,
) -> list[str]:
    """Transcripts of audio segments: greedy at temperature 0, else sampled (top-k, top-p).
    lockstep: every process decodes together, as in validation (`generate`'s)."""
    text, audio_prep = model.preprocessor("text"), model.preprocessor("audio")
    prompts, prefix_lens = zip(*(ar_sample(text, audio_prep.num_tokens(s), s) for s in audio))
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
        lockstep=lockstep,
    )
    return [text.decode(row).strip() for row in ids]


class ARTranscription(Transcription):
    """Args:
    name: task name (metrics log as "<name>/val_wer", "<name>/val_cer").
    head: name of the LM head that writes the transcript.
    vocab: the CTC head's characters, for the auxiliary CTC loss (transcripts are checked
        against it).
    ctc_head: name of the CTC head, for the auxiliary CTC loss.
    max_new_tokens: longest transcript, in text tokens, decoded on val/test.
    ctc_weight: weight of an auxiliary CTC loss through the CTC head on the audio tokens
        (hybrid CTC/attention training); 0 turns it off. Decoding stays autoregressive.
    """

    modalities = ("audio", "text")

    def __init__(
        self,
        name: str = "transcribe",
        head: str = "lm",
        vocab: str | None = None,
        ctc_head: str = "ctc",
        max_new_tokens: int = 32,
        ctc_weight: float = 0.0,
    ):
        super().__init__(name, head, "prefix")
        self.ctc_head, self.ctc_weight, self.max_new_tokens = ctc_head, ctc_weight, max_new_tokens
        self.vocab = None
        if ctc_weight > 0:
            if vocab is None:
                raise InputError(
                    f"task.ctc_weight {ctc_weight} needs a character vocabulary (task.vocab) and "
                    "a CTC head in the model (model.heads.ctc)"
                )
            self.vocab = CharVocab(vocab)

    def collate(
        self,
        examples: Sequence[Example],
        preprocessors: Mapping[str, Preprocessor],
        max_len: int,
        pack: bool = False,
    ) -> Batch:
        audio = self.clips(examples, preprocessors)
        text, audio_prep = preprocessors["text"], preprocessors["audio"]
        samples, prefix_lens = zip(
            *(
                ar_sample(text, audio_prep.num_tokens(a), a, ex.target)
                for a, ex in zip(audio, examples)
            )
        )
        batch = rows(samples, preprocessors, list(prefix_lens), max_len, pack)
        batch.targets[self.name] = self.targets(examples, batch)
        return batch

    def can_pack(self) -> bool:
        """Packed rows hold several clips; the CTC loss reads one clip per row."""
        return self.ctc_weight == 0

    def targets(self, examples: Sequence[Example], batch: Batch) -> Tensor:
        return next_token_targets(batch)

    def step(self, model: MultimodalModel, batch: Batch, stage: str) -> Tensor:
        """Next-token loss on the transcript (plus the auxiliary CTC loss); on val and test, the
        decoded transcripts are scored."""
        targets = batch.targets[self.name]  # (B, T)
        hidden = model(batch, mask=self.mask)  # (B, T, D)
        keep = targets != -100
        logits = model.head(self.head)(hidden[keep]).float()  # (N, V): transcript steps only
        loss = F.cross_entropy(logits, targets[keep])
        if self.ctc_weight == 0 and stage == "train":
            return loss
        refs = reference_texts(model.preprocessor("text"), targets)
        if self.ctc_weight > 0:
            loss = loss + self.ctc_weight * self.auxiliary_loss(model, hidden, batch, refs)
        if stage != "train":
            # lockstep: each process's clips leave a different room (budget) and end differently
            audio = audio_segments(batch)
            preds = decode_ar(model, audio, self.max_new_tokens, head=self.head, lockstep=True)
            self.metrics[stage].update(preds, refs)
        return loss

    def auxiliary_loss(
        self, model: MultimodalModel, hidden: Tensor, batch: Batch, refs: list[str]
    ) -> Tensor:
        """The CTC head's loss over the audio prefix's hidden states (B, L, D)."""
        ctc = model.head(self.ctc_head)
        check_vocab(ctc, self.vocab)
        lengths = audio_lengths(batch)  # (B,)
        sources = [f"sample {i}" for i in range(len(refs))]
        chars = ctc_targets(self.vocab, refs, lengths.tolist(), sources).to(lengths.device)
        logits = ctc(tokens_at(hidden, ctc.columns(batch)), batch).float()  # (B, L, C)
        return ctc_loss(logits, lengths, chars)

    def predict(
        self, model: MultimodalModel, samples: Sequence[Sequence[Segment]], options: Options
    ) -> list[str]:
        """The transcript of each sample's one audio segment, greedy unless a temperature is
        given."""
        audio = [clip for (clip,) in samples]
        return decode_ar(
            model,
            audio,
            options.max_new_tokens,
            head=self.head,
            **options.sampling(temperature=0.0),
        )
