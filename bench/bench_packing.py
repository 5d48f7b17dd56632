"""Packed against padded training: real (non-padding) tokens trained per second.

The tiny model (conf/model/tiny.yaml sizes: 4 layers, width 128) trains with next-token loss
under the prefix mask (the caption and transcription tasks' recipe) on two variable-length
streams, 32 samples a step, the same samples on both sides:
  pack_transcribe  speech clips of 0.3 to 3 s with their transcripts (2 words a second)
  pack_mix         a multi-task mix: text passages of 10 to 200 words, 28 x 28 images with a
                   caption, and the speech clips above, in equal shares
Padded: one row per sample, padded to the step's longest. Packed (`multimodal.packing`): rows
of a fixed length a little above the stream's longest sample (192 tokens for speech, whose
longest is 160; 256 for the mix, whose passages reach 200), each holding several samples, with
document masks. On CPU the dense mask computes every pair of a row, so rows much longer than the
samples spend on attention what packing saves on the rest (speech in 320-token rows: 1.28x);
fewer samples a step fill rows less well (speech, 24 a step: 1.47x). Each side's figure is the
median of 11 runs of 6 steps after one warm-up run (with 3, the speech ratio swung by 0.15
between runs on a virtual machine); the config records each side's padding fraction (padding
tokens over all tokens computed).
"""

import numpy as np
import tiktoken
import torch
from common import measure, record

from multimodal.data.prepare_speech import WORDS, word_ranks
from multimodal.example import Example
from multimodal.model import MultimodalModel
from multimodal.tasks.language_modeling import LanguageModeling
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.audio import AudioTokenizer
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.tokenizers.text import TextTokenizer
from multimodal.tokenizers.vocab import GPT4_PATTERN, with_specials
from multimodal.transformer import Transformer

STEPS, BATCH, CONTEXT, RATE = 6, 32, 256, 16000
UNIT = "real tokens/s"


def tiny_model() -> MultimodalModel:
    torch.manual_seed(0)
    ranks = word_ranks()
    specials = with_specials(ranks)
    words = tiktoken.Encoding(
        name="words", pat_str=GPT4_PATTERN, mergeable_ranks=ranks, special_tokens=specials
    )
    d = 128
    image = ImageTokenizer(d, patch_size=7, channels=1, max_patches=16, min_patches=16)
    return MultimodalModel(
        {"text": TextTokenizer(d, encoding=words), "image": image, "audio": AudioTokenizer(d)},
        Transformer(d, n_layers=4, n_heads=4),
        {"lm": LMHead()},
        context_length=CONTEXT,
    )


def sentence(rng, n: int) -> str:
    return " ".join(rng.choice(WORDS[:10], n))


def speech(model, rng) -> Example:
    seconds = rng.uniform(0.3, 3.0)
    clip = model.tokenizer("audio").prepare((0.1 * rng.standard_normal(int(seconds * RATE)), RATE))
    text = model.tokenizer("text")
    words = text.prepare(text.encode(" " + sentence(rng, max(1, round(2 * seconds)))) + [text.eot])
    return Example([clip, words], prefix_len=model.tokenizer("audio").num_tokens(clip))


def passage(model, rng) -> Example:
    return Example([model.tokenizer("text").prepare(sentence(rng, int(rng.integers(10, 200))))])


def picture(model, rng) -> Example:
    image = model.tokenizer("image").prepare(rng.integers(0, 256, (28, 28), dtype=np.uint8))
    caption = model.tokenizer("text").prepare(" the digit is " + sentence(rng, 1))
    return Example([image, caption], prefix_len=16)


def steps(model, kinds, seed: int = 0) -> list[list[Example]]:
    rng = np.random.default_rng(seed)
    return [[kinds[i % len(kinds)](model, rng) for i in range(BATCH)] for _ in range(STEPS)]


def compare(name: str, model, batches: list[list[Example]], row: int) -> dict:
    task = LanguageModeling(mask="prefix")
    prep = model.preprocessors
    padded = [task.collate(b, prep, row) for b in batches]
    packed = [task.collate(b, prep, row, pack=True) for b in batches]
    real = sum(int((~b.padding).sum()) for b in padded)
    assert real == sum(int((~b.padding).sum()) for b in packed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train(on):
        def run():
            for batch in on:
                optimizer.zero_grad(set_to_none=True)
                task.step(model, batch, "train").backward()
                optimizer.step()

        return run

    model.train()
    ours, peer = measure(train(packed), train(padded), repeats=11, warmup=1)

    def padding(bs):
        return sum(int(b.padding.sum()) for b in bs) / sum(b.padding.numel() for b in bs)

    config = {
        "steps": STEPS,
        "samples_per_step": BATCH,
        "row_len": row,
        "padding_packed": round(padding(packed), 3),
        "padding_padded": round(padding(padded), 3),
        "rows_packed": sum(b.shape[0] for b in packed),
        "rows_padded": sum(b.shape[0] for b in padded),
    }
    return record(name, real / ours, real / peer, "padded batches (ours)", UNIT, True, config)


def run() -> list[dict]:
    model = tiny_model()
    return [
        compare("pack_transcribe", model, steps(model, [speech]), 192),
        compare("pack_mix", model, steps(model, [passage, picture, speech]), 256),
    ]


if __name__ == "__main__":
    for r in run():
        print(r["name"], round(r["ours"]), round(r["peer"]), round(r["ratio"], 2), r["config"])
