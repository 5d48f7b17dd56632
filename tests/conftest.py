"""Shared fixtures: a byte-level vocabulary and a small corpus, so tests need no prepared data."""

from pathlib import Path

import pytest
import tiktoken
import torch

from multimodal.model import MultimodalModel
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.text import TextTokenizer
from multimodal.tokenizers.vocab import GPT4_PATTERN, with_specials, write_ranks
from multimodal.transformer import Transformer


@pytest.fixture(autouse=True)
def one_thread():
    """Tests use tiny models: one torch thread is fastest for them, and fair to a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CORPUS = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
)


def byte_ranks() -> dict[bytes, int]:
    """The 256 single bytes plus a few merges: the smallest real byte-level BPE vocabulary."""
    ranks = {bytes([i]): i for i in range(256)}
    for token in [b"th", b"the", b" t", b"to", b" to", b"be", b" be"]:
        ranks[token] = len(ranks)
    return ranks


@pytest.fixture(scope="session")
def byte_encoding() -> tiktoken.Encoding:
    ranks = byte_ranks()
    return tiktoken.Encoding(
        name="bytes",
        pat_str=GPT4_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=with_specials(ranks),
    )


@pytest.fixture(scope="session")
def rank_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vocab") / "bytes.tiktoken"
    write_ranks(byte_ranks(), path)
    return path


@pytest.fixture
def corpus_root(tmp_path) -> Path:
    """A data root laid out as `mm-data prepare` writes it: text/shakespeare/*.txt."""
    folder = tmp_path / "text" / "shakespeare"
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"play{i}.txt").write_text(CORPUS * 20, encoding="utf-8")
    return tmp_path


def make_lm(encoding, d_model=32, n_layers=2, n_heads=4, context_length=128, seed=0):
    torch.manual_seed(seed)
    return MultimodalModel(
        {"text": TextTokenizer(d_model, encoding=encoding)},
        Transformer(d_model, n_layers, n_heads),
        {"lm": LMHead()},
        context_length=context_length,
    ).eval()


@pytest.fixture
def tiny_lm(byte_encoding) -> MultimodalModel:
    return make_lm(byte_encoding)
