"""LM head: tied to a tokenizer's declared embedding matrix, or owning its own; one interface."""

import pytest
import torch

from multimodal.errors import InputError
from multimodal.head import Head
from multimodal.model import MultimodalModel
from multimodal.tasks.lm_head import LMHead
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.tokenizers.text import TextTokenizer
from multimodal.transformer import Transformer

D = 16


def model_with(byte_encoding, head: LMHead) -> MultimodalModel:
    torch.manual_seed(0)
    tokenizers = {
        "text": TextTokenizer(D, encoding=byte_encoding),
        "image": ImageTokenizer(D, patch_size=2, channels=1),
    }
    return MultimodalModel(tokenizers, Transformer(D, 1, 2), {"lm": head})


def test_a_tied_head_shares_the_text_embedding_and_reads_any_leading_shape(byte_encoding):
    model = model_with(byte_encoding, LMHead())
    head, text = model.head("lm"), model.tokenizer("text")
    assert isinstance(head, Head) and head.columns(None) is None
    assert head.weight is text.tied_weight() is text.embedding.weight
    assert [n for n, _ in model.named_parameters()].count("heads.lm.weight") == 0  # stored once
    hidden = torch.randn(2, 3, D)
    torch.testing.assert_close(head(hidden), hidden @ text.embedding.weight.T)
    torch.testing.assert_close(head(hidden[0, 1]), (hidden @ text.embedding.weight.T)[0, 1])


def test_an_untied_head_owns_its_matrix(byte_encoding):
    vocab = TextTokenizer(D, encoding=byte_encoding).vocab_size
    model = model_with(byte_encoding, LMHead(D, vocab, tie_to=None))
    assert model.head("lm").weight.shape == (vocab, D)
    assert model.head("lm").weight is not model.tokenizer("text").embedding.weight
    with pytest.raises(ValueError, match="an untied LM head needs d_model and vocab_size"):
        LMHead(tie_to=None)


def test_tying_to_a_tokenizer_without_a_matrix_is_refused(byte_encoding):
    with pytest.raises(InputError, match="the 'image' tokenizer has no matrix to tie a head to"):
        model_with(byte_encoding, LMHead(tie_to="image"))
    with pytest.raises(InputError, match="head 'lm' is tied to tokenizer 'audio', which is absent"):
        model_with(byte_encoding, LMHead(tie_to="audio"))
