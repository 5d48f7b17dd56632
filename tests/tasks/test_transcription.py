"""Transcription task: AR and CTC batches, targets on the transcript only, learning, decoding."""

import numpy as np
import pytest
import tiktoken
import torch

from multimodal import registry
from multimodal.data.prepare_speech import word_ranks
from multimodal.errors import InputError
from multimodal.example import Example
from multimodal.model import MultimodalModel
from multimodal.options import Options
from multimodal.segment import Segment
from multimodal.tasks.ctc_head import CTCHead
from multimodal.tasks.legacy import transcription
from multimodal.tasks.lm_head import LMHead
from multimodal.tasks.transcribe_ar import ARTranscription, decode_ar
from multimodal.tasks.transcribe_ctc import CTCTranscription
from multimodal.tasks.transcription import Transcription, audio_segments
from multimodal.tokenizers.audio import AudioTokenizer
from multimodal.tokenizers.text import TextTokenizer
from multimodal.tokenizers.vocab import GPT4_PATTERN, with_specials
from multimodal.transformer import Transformer

CHARS = " abcdefghijklmnopqrstuvwxyz"


TONES = {"one": 300.0, "two": 700.0, "three": 1500.0}  # a "word" is a tone of its own pitch


def words_encoding() -> tiktoken.Encoding:
    ranks = word_ranks()
    return tiktoken.Encoding(
        name="words",
        pat_str=GPT4_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=with_specials(ranks),
    )


def say(text: str, rate=16000) -> tuple[np.ndarray, int]:
    """A clip: each word a 0.12 s tone, words 0.04 s apart."""
    parts = []
    for word in text.split():
        t = np.arange(int(0.12 * rate)) / rate
        parts += [0.4 * np.sin(2 * np.pi * TONES[word] * t), np.zeros(int(0.04 * rate))]
    return np.concatenate(parts).astype(np.float32), rate


def make_model(seed=0) -> MultimodalModel:
    torch.manual_seed(seed)
    d = 32
    return MultimodalModel(
        {
            "audio": AudioTokenizer(d, max_seconds=2.0),
            "text": TextTokenizer(d, encoding=words_encoding()),
        },
        Transformer(d, n_layers=2, n_heads=4),
        {"lm": LMHead(), "ctc": CTCHead(d, CHARS)},
        context_length=128,
    )


TRANSCRIPTS = ["one two", "three", "two two one", "three one"]


def examples(model, texts=TRANSCRIPTS) -> list[Example]:
    audio = model.tokenizer("audio")
    return [
        Example([audio.prepare(say(t))], target=t, meta={"source": f"clip{i}.wav"})
        for i, t in enumerate(texts)
    ]


def batch_for(task, model, exs):
    return task.collator(model.preprocessors, model.context_length)(exs)


def test_ar_batch_is_audio_prefix_then_transcript_with_targets_on_the_transcript_only():
    model = make_model()
    task = ARTranscription()
    exs = examples(model)
    batch = batch_for(task, model, exs)
    text, audio = model.tokenizer("text"), model.tokenizer("audio")
    targets = batch.targets["transcribe"]
    for b, ex in enumerate(exs):
        n = audio.num_tokens(ex.segments[0])
        assert batch.prefix_len[b] == n + 2  # <|begin_audio|>, audio, <|end_audio|>
        ids = text.encode(" " + ex.target) + [text.eot]
        where = (targets[b] != -100).nonzero().flatten()
        assert where.tolist() == list(range(n + 1, n + 1 + len(ids)))  # from <|end_audio|> on
        assert targets[b, where].tolist() == ids
    assert task.mask == "prefix" and task.head == "lm"


def test_ctc_batch_is_audio_alone_with_character_targets():
    model = make_model()
    task = CTCTranscription(vocab=CHARS)
    batch = batch_for(task, model, examples(model))
    assert batch.prefix_len.tolist() == [0, 0, 0, 0]
    text = model.tokenizer("text")
    markers = {text.special(t) for t in ("<|begin_audio|>", "<|end_audio|>")}
    assert set(batch.inputs["text"]["ids"].flatten().tolist()) == markers  # audio and its markers
    first = batch.targets["transcribe"][0]
    assert CTCHead(8, CHARS).vocab.decode(first[first != -100].tolist()) == "one two"
    assert task.mask == "bidirectional" and task.head == "ctc"


def test_auxiliary_ctc_loss_adds_the_ctc_heads_loss_on_the_audio_prefix():
    model = make_model().eval()
    exs = examples(model)
    plain = ARTranscription(vocab=CHARS)
    hybrid = ARTranscription(vocab=CHARS, ctc_weight=0.5)
    batch = batch_for(hybrid, model, exs)
    with torch.no_grad():
        extra = (hybrid.step(model, batch, "train") - plain.step(model, batch, "train")) / 0.5
        hidden = model(batch, mask="prefix")  # (B, T, D)
        slot = batch.slots["audio"]  # (B, L)
        logits = model.head("ctc")(hidden.flatten(0, 1)[slot.clamp(min=0)])  # (B, L, C)
        chars = [torch.tensor(CTCHead(8, CHARS).vocab.encode(ex.target)) for ex in exs]
        expected = torch.nn.functional.ctc_loss(
            logits.log_softmax(-1).transpose(0, 1),
            torch.nn.utils.rnn.pad_sequence(chars, batch_first=True),
            (slot >= 0).sum(1),
            torch.tensor([len(c) for c in chars]),
        )
    assert torch.isclose(extra, expected, rtol=1e-4)


def test_audio_comes_back_out_of_a_batch_unchanged():
    model = make_model()
    exs = examples(model)
    batch = batch_for(ARTranscription(), model, exs)
    for seg, ex in zip(audio_segments(batch), exs):
        assert torch.equal(seg.data, ex.segments[0].data)


def train_steps(kind: type, steps: int) -> tuple[MultimodalModel, Transcription, list[float]]:
    model = make_model()
    task = kind(vocab=CHARS)
    batch = batch_for(task, model, examples(model))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses = []
    model.train()
    for _ in range(steps):
        loss = task.step(model, batch, "train")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.eval(), task, losses


@pytest.mark.parametrize("kind, steps", [(ARTranscription, 80), (CTCTranscription, 60)])
def test_a_few_steps_learn_to_transcribe(kind, steps):
    model, task, losses = train_steps(kind, steps)
    assert losses[-1] < 0.1 * losses[0]
    clips = [[model.tokenizer("audio").prepare(say(t))] for t in TRANSCRIPTS]
    assert task.predict(model, clips, Options()) == TRANSCRIPTS
    # the validation step decodes the same and scores it
    exs = examples(model)
    task.step(model, batch_for(task, model, exs), "val")
    scores = task.metrics["val"].compute()
    assert scores["transcribe/val_wer"] == 0 and scores["transcribe/val_cer"] == 0


def test_ar_decoding_with_and_without_the_cache_agree_and_sampling_is_seeded():
    model, _, _ = train_steps(ARTranscription, 80)
    audio = [model.tokenizer("audio").prepare(say(t)) for t in TRANSCRIPTS]
    assert decode_ar(model, audio, use_cache=True) == decode_ar(model, audio, use_cache=False)
    a = decode_ar(model, audio, temperature=1.5, top_k=5, seed=3)
    b = decode_ar(model, audio, temperature=1.5, top_k=5, seed=3)
    assert a == b


def test_task_and_input_errors_are_named():
    with pytest.raises(InputError, match="transcription head 'rnnt' is unknown"):
        transcription(head="rnnt")
    for make in (CTCTranscription, lambda: transcription(head="ctc")):
        with pytest.raises(InputError, match="CTC transcription needs a character vocabulary"):
            make()
    with pytest.raises(InputError, match="task.ctc_weight 0.5 needs a character vocabulary"):
        ARTranscription(ctc_weight=0.5)
    model = make_model()
    ar, ctc = ARTranscription(), CTCTranscription(vocab=CHARS)
    seg = model.tokenizer("audio").prepare(say("one"))
    with pytest.raises(InputError, match="transcription clip9.wav has no transcript text"):
        batch_for(ar, model, [Example([seg], target="  ", meta={"source": "clip9.wav"})])
    with pytest.raises(InputError, match=r"sample 0 has segments \['text'\]; expected one audio"):
        batch_for(ar, model, [Example([Segment("text", torch.tensor([1]))], target="one")])
    with pytest.raises(InputError, match=r"has segments \['audio', 'audio'\]; expected one audio"):
        batch_for(ctc, model, [Example([seg, seg], target="one")])
    with pytest.raises(InputError, match=r"transcript of clip3.wav has characters \['7'\] outside"):
        batch_for(ctc, model, [Example([seg], target="one 7", meta={"source": "clip3.wav"})])
    with pytest.raises(InputError, match="transcript of sample 0 needs 29 CTC steps but its audio"):
        batch_for(ctc, model, [Example([seg], target="one two three one two three")])
    no_text = MultimodalModel({"audio": model.tokenizer("audio")}, model.backbone)
    with pytest.raises(InputError, match="ARTranscription needs a 'text' tokenizer"):
        batch_for(ar, no_text, [Example([seg], target="one")])


def test_older_files_transcription_configs_build_the_kind_they_name():
    old = {
        "_target_": "multimodal.tasks.transcription.Transcription",
        "name": "speech",
        "vocab": CHARS,
        "lm_head": "lm2",
        "ctc_head": "ctc2",
        "max_new_tokens": 12,
        "ctc_weight": 0.5,
    }
    ar = registry.build({**old, "head": "ar"}, "task")
    assert type(ar) is ARTranscription and (ar.name, ar.head, ar.mask) == (
        "speech",
        "lm2",
        "prefix",
    )
    assert (ar.ctc_head, ar.max_new_tokens, ar.ctc_weight) == ("ctc2", 12, 0.5)
    ctc = registry.build({**old, "head": "ctc"}, "task")
    assert type(ctc) is CTCTranscription and (ctc.head, ctc.mask) == ("ctc2", "bidirectional")
    assert ctc.vocab.chars == CHARS and ctc.mode == ar.mode == "transcribe"
    with pytest.raises(InputError, match="config key task could not be built: transcription head"):
        registry.build({**old, "head": "rnnt"}, "task")
