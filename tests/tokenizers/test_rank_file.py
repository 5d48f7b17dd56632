"""Rank files: only bounded regular files are read, plain or gzipped."""

import gzip
from pathlib import Path

import pytest

from multimodal.errors import InputError
from multimodal.tokenizers import rank_file
from multimodal.tokenizers.rank_file import MAX_RANK_BYTES, ranks_text
from multimodal.tokenizers.vocab import load_encoding


def byte_ranks() -> dict[bytes, int]:
    return {bytes([i]): i for i in range(256)}


def test_vocabulary_paths_that_are_not_bounded_regular_files(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="is not a regular file"):
        load_encoding(tmp_path)
    if Path("/dev/zero").exists():
        with pytest.raises(InputError, match="/dev/zero is not a regular file"):
            load_encoding("/dev/zero")
    with open(tmp_path / "huge.tiktoken", "wb") as f:  # sparse: the size is in stat only
        f.truncate(MAX_RANK_BYTES + 1)
    with pytest.raises(InputError, match=rf"huge\.tiktoken is {MAX_RANK_BYTES + 1} bytes"):
        load_encoding(tmp_path / "huge.tiktoken")
    with pytest.raises(InputError, match="cannot be read"):
        load_encoding("x" * 5000 + ".tiktoken")
    with pytest.raises(InputError, match="vocabulary of type int is not supported"):
        load_encoding(5)
    (tmp_path / "bomb.tiktoken.gz").write_bytes(gzip.compress(b"YQ== 0\n" * 2000))
    monkeypatch.setattr(rank_file, "MAX_RANK_BYTES", 10_000)  # unpacks past it
    with pytest.raises(InputError, match="holds more than 10000 bytes uncompressed"):
        load_encoding(tmp_path / "bomb.tiktoken.gz")
    data = bytearray(gzip.compress(ranks_text(byte_ranks()).encode()))
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8  # damaged deflate stream
    (tmp_path / "bad.tiktoken.gz").write_bytes(bytes(data))
    with pytest.raises(InputError, match="bad.tiktoken.gz is not a readable gzip file"):
        load_encoding(tmp_path / "bad.tiktoken.gz")
