"""Rank files, tiktoken's vocabulary format: one `base64(token_bytes) rank` line per token,
plain or gzipped, read into and written from {token bytes: rank}.

Bounds: a rank file must be a regular file (never a directory or a device) of at most
`MAX_RANK_BYTES`, checked from its size before it is opened, and again after gunzip; every rank
lies in [0, `MAX_VOCAB_SIZE`), since the text tokenizer's embedding has one row per id.
"""

import base64
import binascii
import gzip
import zlib
from collections.abc import Mapping
from pathlib import Path

from multimodal.errors import InputError
from multimodal.tokenizers.input_file import check_file

MAX_RANK_BYTES = 2**27  # 128 MiB of rank-file text; o200k_base's is 3.6 MB
MAX_VOCAB_SIZE = 2**22  # ids 0 .. 4,194,303; o200k_base has 200,019


def read_rank_bytes(path: str | Path) -> bytes:
    """The (uncompressed) bytes of a rank file; `.gz` files are decompressed. Both sizes are
    bounded by `MAX_RANK_BYTES`, the file's from `stat` before it is opened."""
    path = Path(path)
    source = f"vocabulary file {path}"
    check_file(path, source, MAX_RANK_BYTES)
    try:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as f:
            data = f.read(MAX_RANK_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        kind = "gzip file" if path.suffix == ".gz" else "file"
        raise InputError(f"{source} is not a readable {kind} ({e})") from None
    if len(data) > MAX_RANK_BYTES:
        raise InputError(f"{source} holds more than {MAX_RANK_BYTES} bytes uncompressed")
    return data


def parse_ranks(text: str | bytes, source: str) -> dict[bytes, int]:
    """Rank-file content as {token bytes: rank}; `source` names it in errors.

    Checks what tiktoken needs to encode any text: distinct tokens, distinct ranks, and all
    256 single bytes present.
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")  # U+FFFD marks a byte that is not ASCII
    if not text.isascii():
        raise InputError(f"{source} is not a text rank file ('base64_token rank' lines)")
    ranks = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error) as e:
            raise InputError(f"{source} line {n} is not 'base64_token rank'") from e
    if not ranks:
        raise InputError(f"{source} holds no tokens")
    if len(set(ranks.values())) != len(ranks) or n_lines(text) != len(ranks):
        raise InputError(f"{source} repeats a token or a rank; expected each exactly once")
    if min(ranks.values()) < 0 or max(ranks.values()) >= MAX_VOCAB_SIZE:
        raise InputError(f"{source} has a rank outside [0, {MAX_VOCAB_SIZE}); expected token ids")
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise InputError(
            f"{source} lacks {len(missing)} of the 256 single-byte tokens (e.g. byte {missing[0]}); "
            "a byte-level vocabulary needs all of them"
        )
    return ranks


def n_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def read_ranks(path: str | Path) -> dict[bytes, int]:
    """A tiktoken rank file (plain or .gz) as {token bytes: rank}."""
    return parse_ranks(read_rank_bytes(path), f"vocabulary file {path}")


def ranks_text(ranks: Mapping[bytes, int]) -> str:
    """{token bytes: rank} as rank-file text, ordered by rank."""
    lines = (f"{base64.b64encode(t).decode()} {r}\n" for t, r in sorted(ranks.items(), key=_rank))
    return "".join(lines)


def _rank(item: tuple[bytes, int]) -> int:
    return item[1]


def write_ranks(ranks: dict[bytes, int], path: str | Path) -> None:
    """Write {token bytes: rank} in tiktoken's rank-file format, ordered by rank."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ranks_text(ranks), encoding="ascii")
