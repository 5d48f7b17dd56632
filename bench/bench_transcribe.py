"""Transcription inference: seconds of audio transcribed per second, by the AR and CTC heads.

The tiny model (conf/model/tiny.yaml sizes) with both heads, untrained weights, transcribes the
same clips from their files (reading, features, model, decoding), batch 16. Records:
  transcribe_ar   AR head with the KV cache, against the same decoding without the cache
  transcribe_ctc  CTC head (one pass, greedy), against the AR head with the KV cache
AR decodes greedily for up to 12 tokens (digit transcripts take 2 to 8) and stops at
<|endoftext|>. Clips are the spoken-digits test split when `mm-data prepare` wrote it, else
generated 2 s tones.
"""

import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import tiktoken
import torch
from common import measure, record

from multimodal.data.prepare_speech import word_ranks
from multimodal.model import MultimodalModel
from multimodal.options import Options
from multimodal.tasks.ctc_head import CTCHead
from multimodal.tasks.lm_head import LMHead
from multimodal.tasks.transcribe_ar import ARTranscription
from multimodal.tasks.transcribe_ctc import CTCTranscription
from multimodal.tokenizers.audio import AudioTokenizer
from multimodal.tokenizers.text import TextTokenizer
from multimodal.tokenizers.vocab import GPT4_PATTERN, with_specials
from multimodal.transformer import Transformer

ROOT = Path(__file__).resolve().parents[1]
TEST_SPLIT = ROOT / "data" / "speech" / "spoken_digits" / "test"
CLIPS, BATCH, MAX_NEW = 64, 16, 12
UNIT = "audio s/s"


def tiny_model() -> MultimodalModel:
    torch.manual_seed(0)
    ranks = word_ranks()
    words = tiktoken.Encoding(
        name="words",
        pat_str=GPT4_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=with_specials(ranks),
    )
    d = 128
    return MultimodalModel(
        {"audio": AudioTokenizer(d, max_seconds=5.0), "text": TextTokenizer(d, encoding=words)},
        Transformer(d, n_layers=4, n_heads=4),
        {"lm": LMHead(), "ctc": CTCHead(d, " 'abcdefghijklmnopqrstuvwxyz")},
        context_length=256,
    ).eval()


def clip_files(folder: Path) -> tuple[list[Path], str]:
    found = sorted(TEST_SPLIT.glob("*.wav"))[:CLIPS]
    if len(found) == CLIPS:
        return found, str(TEST_SPLIT.relative_to(ROOT))
    rate, files = 16000, []
    for i in range(CLIPS):
        t = np.arange(2 * rate) / rate
        files.append(folder / f"{i}.wav")
        sf.write(files[-1], 0.3 * np.sin(2 * np.pi * (200 + 10 * i) * t), rate)
    return files, "generated 2 s tones (data/ absent)"


def transcribe(model: MultimodalModel, files: list[Path], task, options: Options) -> list[str]:
    """Transcripts of the files, read and decoded `BATCH` at a time."""
    audio = model.tokenizer("audio")
    clips = [[audio.prepare(f)] for f in files]
    return [
        t
        for i in range(0, len(clips), BATCH)
        for t in task.predict(model, clips[i : i + BATCH], options)
    ]


def run() -> list[dict]:
    model = tiny_model()
    ar_task, ctc_task = ARTranscription(), CTCTranscription(vocab=model.head("ctc").vocab.chars)
    with tempfile.TemporaryDirectory() as tmp:
        files, source = clip_files(Path(tmp))
        seconds = sum(sf.info(f).duration for f in files)

        def ar(cache: bool):
            options = Options(max_new_tokens=MAX_NEW, use_cache=cache)
            return lambda: transcribe(model, files, ar_task, options)

        def ctc():
            return transcribe(model, files, ctc_task, Options())

        config = {"clips": len(files), "audio_s": round(seconds, 1), "source": source}
        config |= {"batch": BATCH, "max_new_tokens": MAX_NEW, "model": "tiny, untrained"}
        config["threads"] = torch.get_num_threads()
        with torch.no_grad():
            t_cached, t_uncached = measure(ar(True), ar(False), repeats=3, warmup=1)
            t_ctc, t_ar = measure(ctc, ar(True), repeats=3, warmup=1)
    return [
        record(
            "transcribe_ar",
            seconds / t_cached,
            seconds / t_uncached,
            "ar head without KV cache",
            UNIT,
            True,
            config,
        ),
        record(
            "transcribe_ctc",
            seconds / t_ctc,
            seconds / t_ar,
            "ar head, KV cache",
            UNIT,
            True,
            config,
        ),
    ]


if __name__ == "__main__":
    for r in run():
        print(r)
