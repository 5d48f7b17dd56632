"""The spoken-digits prepare step: disjoint splits, one token per digit word, verified writes."""

import importlib.util
import json
import shutil
import sys
from collections import Counter

import pytest
import soundfile as sf

from multimodal.data.prepare_speech import (
    LENGTH_WEIGHTS,
    WORD_COUNTS,
    WORDS,
    plan,
    plan_words,
    prepare_speech,
    prepare_words,
    synthesizer,
    word_ranks,
)
from multimodal.errors import InputError
from multimodal.tokenizers.vocab import load_encoding, write_ranks

HAVE_PROGRAM = shutil.which("espeak-ng") is not None
HAVE_LIBRARY = importlib.util.find_spec("espeakng_loader") is not None
SMALL = {"train": 6, "val": 3, "test": 3}


def test_plan_is_seeded_and_splits_share_no_digit_sequence():
    counts = {"train": 3000, "val": 300, "test": 300}
    utterances = plan(counts, seed=0)
    assert {s: len(u) for s, u in utterances.items()} == counts
    assert plan(counts, seed=0) == utterances and plan(counts, seed=1) != utterances
    texts = {s: {u.text for u in us} for s, us in utterances.items()}
    assert not texts["train"] & texts["val"]
    assert not texts["train"] & texts["test"]
    assert not texts["val"] & texts["test"]
    for us in utterances.values():
        lengths = {len(u.text.split()) for u in us}
        assert lengths == set(range(1, len(LENGTH_WEIGHTS) + 1))
        assert all(set(u.text.split()) <= set(WORDS) for u in us)
        assert len({u.voice for u in us}) > 10 and len({u.speed for u in us}) > 20


def test_word_plan_says_all_ten_words_equally_often_in_every_split():
    plans = plan_words(WORD_COUNTS, seed=1)
    for split, utterances in plans.items():
        assert Counter(u.text for u in utterances) == {w: WORD_COUNTS[split] // 10 for w in WORDS}
        assert len({u.voice for u in utterances}) > 10 and len({u.speed for u in utterances}) > 20
    assert plan_words(WORD_COUNTS, seed=1) == plans != plan_words(WORD_COUNTS, seed=2)
    voiced = {(u.text, u.voice, u.speed, u.pitch) for u in plans["train"]}
    assert not voiced & {(u.text, u.voice, u.speed, u.pitch) for u in plans["test"]}


def test_word_vocabulary_gives_one_token_per_digit_word(tmp_path):
    write_ranks(word_ranks(), tmp_path / "words.tiktoken")
    encoding = load_encoding(tmp_path / "words.tiktoken")
    ids = encoding.encode_ordinary(" " + " ".join(WORDS))
    assert len(ids) == 10 and encoding.decode(ids) == " " + " ".join(WORDS)
    assert encoding.n_vocab < 400
    assert encoding.decode(encoding.encode_ordinary(" any other text")) == " any other text"


def check_written(root, counts):
    for split, n in counts.items():
        rows = [json.loads(x) for x in (root / split / "manifest.jsonl").read_text().splitlines()]
        assert len(rows) == n
        for row in rows:
            info = sf.info(root / split / row["audio"])
            assert info.samplerate == 16000 and info.channels == 1 and info.frames > 1600
            assert row["text"] and {"voice", "speed", "pitch"} <= set(row)


@pytest.mark.skipif(not HAVE_PROGRAM and not HAVE_LIBRARY, reason="no espeak-ng available")
def test_prepare_writes_verifies_and_repairs(tmp_path):
    summary = prepare_speech(tmp_path, counts=SMALL)
    root = tmp_path / "speech" / "spoken_digits"
    assert "train 6, val 3, test 3 clips written" in summary
    check_written(root, SMALL)
    stamp = json.loads((root / "MANIFEST.json").read_text())
    assert stamp["counts"] == SMALL and set(stamp["sha256"]) == set(SMALL)
    assert "already prepared" in prepare_speech(tmp_path, counts=SMALL)
    (root / "val" / "00001.wav").write_bytes(b"changed")
    assert "written" in prepare_speech(tmp_path, counts=SMALL)  # a changed clip is redone
    check_written(root, SMALL)
    assert "written" in prepare_speech(tmp_path, counts=SMALL, force=True)


@pytest.mark.skipif(not HAVE_PROGRAM and not HAVE_LIBRARY, reason="no espeak-ng available")
def test_prepare_words_writes_its_own_set(tmp_path):
    counts = {"train": 10, "val": 10, "test": 10}
    summary = prepare_words(tmp_path, counts=counts)
    root = tmp_path / "speech" / "spoken_words"
    assert "spoken words" in summary and "train 10, val 10, test 10 clips written" in summary
    check_written(root, counts)
    rows = [json.loads(x) for x in (root / "test" / "manifest.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == list(WORDS)
    assert "already prepared" in prepare_words(tmp_path, counts=counts)
    assert not (tmp_path / "speech" / "spoken_digits").exists()


@pytest.mark.skipif(not HAVE_LIBRARY, reason="espeakng-loader is not installed")
def test_library_backend_synthesizes_the_same_set(tmp_path):
    counts = {"train": 2, "val": 1, "test": 1}
    summary = prepare_speech(tmp_path, counts=counts, backend="library")
    assert "EspeakLibrary" in summary
    check_written(tmp_path / "speech" / "spoken_digits", counts)


def test_missing_synthesizer_is_named(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # importing it raises ImportError
    with pytest.raises(InputError, match="speech synthesis needs espeak-ng"):
        synthesizer()
