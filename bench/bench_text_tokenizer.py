"""Text tokenizer throughput: our `TextPreprocessor` (the text tokenizer's CPU half) against raw
tiktoken on the same Encoding.

Both sides encode the same text (1 MB of the Shakespeare corpus from `mm-data prepare`, or a
generated text when data/ is absent) with the same `tiktoken.Encoding`, so the ratio is our
wrapper's overhead; it should stay above 0.9 (under 10% slower).
"""

import random
from pathlib import Path

from common import measure, record

from multimodal.tokenizers.text_preprocessor import TextPreprocessor
from multimodal.tokenizers.vocab import load_encoding

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "text" / "shakespeare"
OUR_VOCAB = ROOT / "data" / "bpe" / "shakespeare-8192.tiktoken"
SIZE = 1_000_000  # characters
PEER, UNIT = "tiktoken", "tokens/s"


def corpus_text(size: int = SIZE) -> tuple[str, str]:
    """About `size` characters of text, and where they came from."""
    files = sorted(CORPUS.glob("*.txt"))
    if files:
        text = "".join(f.read_text(encoding="utf-8") for f in files[:12])
        return text[:size], f"{CORPUS.relative_to(ROOT)} (first {size:,} chars)"
    rng = random.Random(0)
    words = "the of and to a in that is was he for it with as his on be at by I".split()
    words += ["thou", "thee", "hath", "doth", "wherefore", "naïve", "café", "2024", "¿qué?"]
    lines, length = [], 0
    while length < size:
        lines.append(" ".join(rng.choices(words, k=rng.randint(3, 14))) + ".\n")
        lines += ["\n"] if rng.random() < 0.2 else []
        length += len(lines[-1]) + 1
    return "".join(lines)[:size], "generated words (data/ absent)"


def vocabularies() -> list[str]:
    names = ["gpt2", "cl100k_base", "o200k_base"]
    return names + ([str(OUR_VOCAB)] if OUR_VOCAB.is_file() else [])


def compare(vocab: str, text: str, source: str) -> list[dict]:
    """encode, and encode_batch on paragraphs and on long documents, ours against tiktoken."""
    encoding = load_encoding(vocab)
    ours = TextPreprocessor(encoding=encoding)
    label = Path(vocab).name
    config = {"vocab": label, "text": source, "chars": len(text)}
    n = len(encoding.encode_ordinary(text))
    t_ours, t_peer = measure(lambda: ours.encode(text), lambda: encoding.encode_ordinary(text))
    call = {**config, "call": "encode_ordinary"}
    records = [record(f"text_encode[{label}]", n / t_ours, n / t_peer, PEER, UNIT, True, call)]

    paragraphs = [p for p in text.split("\n\n") if p]
    documents = [text[i : i + 100_000] for i in range(0, len(text), 100_000)]
    for kind, texts in (("paragraphs", paragraphs), ("documents", documents)):
        n = sum(map(len, encoding.encode_ordinary_batch(texts)))
        t_ours, t_peer = measure(
            lambda t=texts: ours.encode_batch(t), lambda t=texts: encoding.encode_ordinary_batch(t)
        )
        call = {**config, "call": "encode_ordinary_batch", "texts": len(texts), "kind": kind}
        name = f"text_encode_batch_{kind}[{label}]"
        records.append(record(name, n / t_ours, n / t_peer, PEER, UNIT, True, call))
    return records


def run() -> list[dict]:
    text, source = corpus_text()
    return [r for vocab in vocabularies() for r in compare(vocab, text, source)]


if __name__ == "__main__":
    for r in run():
        print(r)
