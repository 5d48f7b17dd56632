"""Byte-level BPE training, written as a tiktoken rank file.

Text is pre-split with the GPT-4 pattern; each distinct chunk is counted once and becomes a
"word" of byte ids (0..255). Each step merges the most frequent adjacent pair in all words,
counted with multiplicity (`zip(word, word[1:])`) and merged left to right. Ties go to the
smaller (left id, right id), so the result is deterministic. A merge whose bytes already form a
token reuses that token's id, so every rank names distinct bytes (as tiktoken requires).

Fast path: pair counts and an index pair -> words holding it are kept up to date after each
merge (only the words holding the merged pair are touched), and the best pair comes from a heap
whose stale entries are dropped or refreshed when popped.
"""

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import regex
from tqdm import tqdm

from multimodal.errors import InputError
from multimodal.tokenizers.vocab import GPT4_PATTERN

Pair = tuple[int, int]


def count_chunks(texts: Iterable[str], pattern: str = GPT4_PATTERN) -> Counter:
    """Distinct pre-split chunks of all `texts` with their counts. Surrogates are read as
    tiktoken reads them when encoding (pairs joined, lone ones as U+FFFD)."""
    split = regex.compile(pattern)
    counts: Counter = Counter()
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        counts.update(split.findall(text))
    return counts


def merge_word(word: list[int], pair: Pair, new: int) -> list[int]:
    """`word` with each occurrence of `pair` (left to right, no overlaps) replaced by `new`."""
    a, b = pair
    out, i, n = [], 0, len(word)
    while i < n:
        if word[i] == a and i + 1 < n and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def learn_merges(
    chunks: Mapping[str, int], vocab_size: int, progress: bool = True
) -> list[tuple[bytes, bytes]]:
    """The merges, as (left bytes, right bytes) in order, that grow 256 bytes to `vocab_size`."""
    if vocab_size < 256:
        raise InputError(f"vocab size {vocab_size} is too small; expected at least 256")
    words = [list(c.encode("utf-8")) for c in chunks]
    counts = list(chunks.values())
    tokens = [bytes([i]) for i in range(256)]  # id -> bytes
    ids = {t: i for i, t in enumerate(tokens)}  # bytes -> id

    pair_counts: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, set[int]] = defaultdict(set)
    for w, (word, c) in enumerate(zip(words, counts)):
        for p in zip(word, word[1:]):
            pair_counts[p] += c
            where[p].add(w)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    bar = tqdm(total=vocab_size - 256, desc="bpe merges", unit="tok", disable=not progress)
    while len(ids) < vocab_size:
        pair = pop_best(heap, pair_counts)
        if pair is None:
            bar.close()
            raise InputError(
                f"the corpus has only enough distinct byte pairs for {len(ids)} tokens; "
                f"expected vocab size {vocab_size} or less"
            )
        merged = tokens[pair[0]] + tokens[pair[1]]
        new = ids.get(merged)
        if new is None:
            new = ids[merged] = len(tokens)
            tokens.append(merged)
            bar.update(1)
        merges.append((tokens[pair[0]], tokens[pair[1]]))

        grown: set[Pair] = set()
        for w in where.pop(pair):
            old = words[w]
            word = words[w] = merge_word(old, pair, new)
            c = counts[w]
            old_pairs, new_pairs = list(zip(old, old[1:])), list(zip(word, word[1:]))
            for p in old_pairs:
                pair_counts[p] -= c
            for p in new_pairs:
                pair_counts[p] += c
                where[p].add(w)
                if new in p:
                    grown.add(p)
            for p in set(old_pairs).difference(new_pairs):
                where[p].discard(w)
        pair_counts.pop(pair, None)
        for p in grown:
            heapq.heappush(heap, (-pair_counts[p], p))
    bar.close()
    return merges


def pop_best(heap: list, pair_counts: Mapping[Pair, int]) -> Pair | None:
    """The most frequent pair (ties: smallest ids); entries whose count went down are refreshed."""
    while heap:
        neg, pair = heap[0]
        current = pair_counts.get(pair, 0)
        if current == -neg and current > 0:
            return pair
        heapq.heappop(heap)
        if 0 < current < -neg:
            heapq.heappush(heap, (-current, pair))
    return None


def ranks_from_merges(merges: Iterable[tuple[bytes, bytes]]) -> dict[bytes, int]:
    """Single bytes at ranks 0..255, then each newly formed token at the next rank."""
    ranks = {bytes([i]): i for i in range(256)}
    for left, right in merges:
        ranks.setdefault(left + right, len(ranks))
    return ranks


def train_bpe(texts: Iterable[str], vocab_size: int, progress: bool = True) -> dict[bytes, int]:
    """Train on `texts`; {token bytes: rank} with `vocab_size` ranks."""
    chunks = count_chunks(texts)
    if not chunks:
        raise InputError("the BPE training corpus is empty; expected some text")
    return ranks_from_merges(learn_merges(chunks, vocab_size, progress))


def read_corpus(paths: Iterable[str | Path], progress: bool = True) -> Iterable[str]:
    """The text of each file (UTF-8), one at a time; a folder stands for its `*.txt` files."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.rglob("*.txt"))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"corpus file {path} does not exist")
    if not files:
        raise InputError("no corpus files given; expected text files or folders of *.txt")
    for path in tqdm(files, desc="reading corpus", unit="file", disable=not progress):
        try:
            yield path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"corpus file {path} is not UTF-8 text") from e


def train_files(
    paths: Iterable[str | Path], vocab_size: int, progress: bool = True
) -> dict[bytes, int]:
    """Train on text files (or folders of `*.txt`); {token bytes: rank}."""
    if vocab_size < 256:
        raise InputError(f"vocab size {vocab_size} is too small; expected at least 256")
    return train_bpe(read_corpus(paths, progress), vocab_size, progress)
