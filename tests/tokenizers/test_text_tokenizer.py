"""Text: the preprocessor's ids, special tokens, protocol, bad input and round trips; the
module's embedding."""

import pickle

import numpy as np
import pytest
import tiktoken
import torch
from hydra.utils import instantiate
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf

from multimodal.errors import InputError
from multimodal.segment import Segment
from multimodal.tokenizers import text_preprocessor
from multimodal.tokenizers.text import TextTokenizer
from multimodal.tokenizers.text_preprocessor import (
    BATCH_CHARS_PER_TEXT,
    TextPreprocessor,
    clean_text,
)
from multimodal.tokenizers.vocab import SPECIAL_TOKENS, export_vocab, load_encoding


@pytest.fixture(scope="module")
def gpt2() -> TextPreprocessor:
    return TextPreprocessor(vocab="gpt2")


@pytest.fixture(scope="module")
def gpt2_module() -> TextTokenizer:
    torch.manual_seed(0)
    return TextTokenizer(d_model=16, vocab="gpt2")


def test_encode_decode_known_ids(gpt2):
    assert gpt2.encode("hello world") == [31373, 995]
    assert gpt2.decode([31373, 995]) == "hello world"
    assert gpt2.decode(torch.tensor([31373, 995])) == "hello world"
    assert gpt2.encode("") == []


def test_special_token_text_is_encoded_as_ordinary_text(gpt2):
    ids = gpt2.encode("<|endoftext|>")
    assert gpt2.eot not in ids and len(ids) > 1
    assert gpt2.decode(ids) == "<|endoftext|>"


def test_encode_batch_equals_encode_for_short_and_long_texts(gpt2):
    short = ["To be, or not to be", "", "that is the question", "naïve 🙂"]
    long = ["word " * (BATCH_CHARS_PER_TEXT // 4), "other " * (BATCH_CHARS_PER_TEXT // 5)]
    for texts in (short, long, short + long):
        assert gpt2.encode_batch(texts) == [gpt2.encode(t) for t in texts]
    assert gpt2.encode_batch(iter(short)) == [gpt2.encode(t) for t in short]


def test_special_tokens_are_present_distinct_and_decode_to_their_names(gpt2):
    ids = [gpt2.special(name) for name in SPECIAL_TOKENS]
    assert len(set(ids)) == len(SPECIAL_TOKENS)
    assert gpt2.eot == 50256
    assert all(0 <= i < gpt2.vocab_size for i in ids)
    assert gpt2.decode(ids) == "".join(SPECIAL_TOKENS)
    with pytest.raises(InputError, match="'<\\|nope\\|>' is unknown"):
        gpt2.special("<|nope|>")


def test_vocab_size_covers_ranks_and_specials(gpt2, gpt2_module, byte_encoding):
    assert gpt2.vocab_size == 50261 == gpt2_module.embedding.num_embeddings
    tok = TextPreprocessor(encoding=byte_encoding)
    assert tok.vocab_size == len(byte_encoding._mergeable_ranks) + len(SPECIAL_TOKENS)


def test_the_module_passes_ids_and_text_on_to_its_preprocessor(gpt2, gpt2_module):
    text = "To be, or not to be"
    assert gpt2_module.encode(text) == gpt2.encode(text) == gpt2_module.prepare(text).data.tolist()
    assert gpt2_module.decode(gpt2.encode(text)) == text
    assert gpt2_module.eot == gpt2.eot and gpt2_module.special("<|end_image|>") == gpt2.special(
        "<|end_image|>"
    )
    assert gpt2_module.markers("image") == gpt2.markers("image") is not None


def test_prepare_str_and_ids(gpt2):
    seg = gpt2.prepare("hello world")
    assert isinstance(seg, Segment) and seg.modality == "text"
    assert seg.data.dtype == torch.long and seg.data.tolist() == [31373, 995]
    assert gpt2.num_tokens(seg) == 2
    assert gpt2.prepare([31373, 995]).data.tolist() == [31373, 995]
    assert gpt2.prepare(torch.tensor([1, 2, 3, 4])).data.tolist() == [1, 2, 3, 4]
    assert gpt2.prepare(np.array([7, 8], dtype=np.uint16)).data.tolist() == [7, 8]
    assert gpt2.prepare((31373, np.int32(995))).data.tolist() == [31373, 995]
    assert gpt2.prepare([gpt2.vocab_size - 1]).data.tolist() == [gpt2.vocab_size - 1]


@pytest.mark.parametrize(
    "raw, message",
    [
        ("", "text input is empty"),
        ([], "has no token ids"),
        ([5, 50261], r"must lie in \[0, 50261\)"),
        ([-1], r"must lie in \[0, 50261\)"),
    ],
)
def test_prepare_refuses_bad_input(gpt2, raw, message):
    with pytest.raises(InputError, match=message):
        gpt2.prepare(raw)


@pytest.mark.parametrize(
    "raw, message",
    [
        (None, "text input of type NoneType is not supported; expected a non-empty string"),
        (b"hello", "of type bytes is not supported"),
        (3, "of type int is not supported"),
        (3.5, "of type float is not supported"),
        ({"ids": [1]}, "of type dict is not supported"),
        (range(3), "of type range is not supported"),
        ([1.7, 2.2], "item 0 is a float; expected .* integer token ids in \\[0, 50261\\)"),
        ([1, True], "item 1 is a bool"),
        ([np.bool_(True)], "item 0 is a bool"),
        ([[1, 2], [3]], "item 0 is a list"),
        ([5, "6"], "item 1 is a str"),
        ([5, None], "item 1 is a NoneType"),
        ([2**70], r"must lie in \[0, 50261\); item 0 does not"),
        ([10**5000], r"must lie in \[0, 50261\); item 0 does not"),
        (np.array([1.5, 2.0]), "text input is a 1-D float64 numpy array; expected"),
        (np.array([[1, 2]]), "2-D int64 numpy array"),
        (np.array([True]), "1-D bool numpy array"),
        (np.array(["a"]), "1-D <U1 numpy array"),
        (np.array([2**64 - 1], dtype=np.uint64), r"must lie in \[0, 50261\)"),
        (torch.tensor([[1, 2], [3, 4]]), "2-D torch.int64 tensor"),
        (torch.tensor(5), "0-D torch.int64 tensor"),
        (torch.tensor([1.0]), "1-D torch.float32 tensor"),
        (torch.tensor([True]), "1-D torch.bool tensor"),
        (torch.tensor([1 + 2j]), "1-D torch.complex64 tensor"),
        (torch.tensor([1, 2]).to_sparse(), r"torch.int64 tensor \(torch.sparse_coo, cpu\)"),
        (torch.zeros(2, dtype=torch.long, device="meta"), r"tensor \(torch.strided, meta\)"),
    ],
)
def test_prepare_names_every_input_that_is_neither_text_nor_ids(gpt2, raw, message):
    with pytest.raises(InputError, match=message):
        gpt2.prepare(raw)


def test_any_str_is_text_nul_and_lone_surrogates_included(gpt2):
    for text in ("\x00", "a\x00b", "\ud800", "x\udc00\x00\x07"):
        ids = gpt2.prepare(text).data
        assert ids.tolist() == gpt2.encode(text) and len(ids) > 0
        assert gpt2.decode(ids) == clean_text(text)
    assert gpt2.decode(gpt2.prepare("a\x00b").data) == "a\x00b"


def test_a_pattern_that_skips_text_or_matches_nothing_is_named_at_prepare(byte_encoding):
    """`encoding=` bypasses the vocabulary checks; prepare still refuses in one sentence."""

    def tokenizer(pattern):
        ranks = byte_encoding._mergeable_ranks
        enc = tiktoken.Encoding("p", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
        return TextPreprocessor(encoding=enc)

    with pytest.raises(InputError, match="text input gives no tokens"):
        tokenizer(r"\d").prepare("abc")
    with pytest.raises(InputError, match="text input cannot be split by the vocabulary's"):
        tokenizer("a|").prepare("bbb")  # tiktoken panics on an empty piece


def test_collate_and_forward_shapes_and_values(gpt2, gpt2_module):
    segs = [gpt2.prepare("To be, or not to be"), gpt2.prepare("hello")]
    collated = gpt2.collate(segs)
    S, L = 2, gpt2.num_tokens(segs[0])
    assert collated["ids"].shape == (S, L)
    assert collated["ids"][1, 1:].eq(0).all()  # right padding
    out = gpt2_module(collated)
    assert out.shape == (S, L, 16)
    expected = gpt2_module.embedding.weight[segs[1].data[0]] + gpt2_module.modality_embedding
    torch.testing.assert_close(out[1, 0], expected)


def test_constructor_needs_exactly_one_source(byte_encoding):
    for build in (TextPreprocessor, lambda **kw: TextTokenizer(8, **kw)):
        with pytest.raises(InputError, match="exactly one"):
            build()
        with pytest.raises(InputError, match="exactly one"):
            build(vocab="gpt2", encoding=byte_encoding)


def test_bad_vocabularies_are_refused(tmp_path):
    with pytest.raises(InputError, match="neither a rank file nor one of"):
        TextPreprocessor(vocab="gpt-17")
    with pytest.raises(InputError, match="does not exist"):
        TextPreprocessor(vocab=str(tmp_path / "missing.tiktoken"))
    garbled = tmp_path / "garbled.tiktoken"
    garbled.write_text("this is not a rank file\n")
    with pytest.raises(InputError, match=f"{garbled} line 1"):
        TextPreprocessor(vocab=str(garbled))


def test_inline_vocabulary_gives_the_same_ids(rank_file):
    from_file = TextPreprocessor(vocab=str(rank_file))
    inline = from_file.portable_config()["vocab"]
    from_dict = TextPreprocessor(vocab=inline)
    text = "To be, or not to be, that is the question 🙂"
    assert from_dict.encode(text) == from_file.encode(text)
    assert from_dict.vocab_size == from_file.vocab_size
    assert [from_dict.special(n) for n in SPECIAL_TOKENS] == [
        from_file.special(n) for n in SPECIAL_TOKENS
    ]
    assert export_vocab(from_dict.encoding) == inline


def test_inline_vocabulary_through_hydra_instantiate(rank_file, monkeypatch):
    """Hydra hands the stored vocabulary over as a DictConfig; it must rebuild the same ids."""
    given = []

    def spy(vocab):
        given.append(vocab)
        return load_encoding(vocab)

    monkeypatch.setattr(text_preprocessor, "load_encoding", spy)
    from_file = TextTokenizer(8, vocab=str(rank_file))
    target = {"_target_": "multimodal.tokenizers.text.TextTokenizer", "d_model": 8}
    rebuilt = instantiate(OmegaConf.create({**target, **from_file.portable_config()}))
    assert isinstance(given[-1], DictConfig)
    text = "the tea is hot; to be 🙂"
    assert rebuilt.encode(text) == from_file.encode(text)
    assert rebuilt.eot == from_file.eot and rebuilt.vocab_size == from_file.vocab_size


def test_preprocessor_pickles_for_dataloader_workers(rank_file):
    tok = TextPreprocessor(vocab=str(rank_file))
    copy = pickle.loads(pickle.dumps(tok))
    assert copy.prepare("the tea").data.tolist() == tok.prepare("the tea").data.tolist()


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_round_trip_any_unicode(gpt2, text):
    assert gpt2.decode(gpt2.encode(text)) == text
    assert gpt2.decode(gpt2.encode_batch([text, text])[1]) == text


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.one_of(st.characters(), SURROGATES), max_size=40))
def test_round_trip_with_surrogates_follows_the_stated_rule(gpt2, text):
    assert gpt2.decode(gpt2.encode(text)) == clean_text(text)


def test_surrogate_rule_explicitly(gpt2):
    assert gpt2.decode(gpt2.encode("\ud800")) == "\ufffd"  # lone high surrogate
    assert gpt2.decode(gpt2.encode("a\udc00b")) == "a\ufffdb"  # lone low surrogate
    assert gpt2.decode(gpt2.encode("x\ude00\ud83dy")) == "x\ufffd\ufffdy"  # low before high
    assert gpt2.decode(gpt2.encode("\ud83d\ude00")) == "\U0001f600"  # a pair is its character
    assert gpt2.encode("\ud800") == gpt2.encode("\ufffd")
    assert clean_text("ok \U0001f600") == "ok \U0001f600"
