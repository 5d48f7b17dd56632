import pytest
import torch

from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.tokenizers.text import TextTokenizer
from multimodal.transformer import Transformer


@pytest.mark.parametrize("mask", ["causal", "bidirectional", "prefix"])
@pytest.mark.parametrize("pad_side", ["right", "left"])
def test_batched_equals_alone(tiny_lm, mask, pad_side):
    text = tiny_lm.tokenizer("text")
    samples = [
        [text.prepare("To be, or not to be")],
        [text.prepare("the")],
        [text.prepare("a sea")],
    ]
    prefixes = [3, 1, 2]
    batch = tiny_lm.collate(samples, prefixes, pad_side)
    with torch.no_grad():
        together = tiny_lm(batch, mask=mask)
        for b, sample in enumerate(samples):
            alone = tiny_lm(tiny_lm.collate([sample], [prefixes[b]]), mask=mask)[0]
            real = ~batch.padding[b]
            assert torch.allclose(together[b][real], alone, atol=1e-5)


def test_embedding_is_tied_to_lm_head(tiny_lm):
    assert tiny_lm.heads["lm"].weight is tiny_lm.tokenizers["text"].embedding.weight


def test_width_mismatch_is_named(byte_encoding):
    with pytest.raises(
        InputError, match="tokenizer 'text' outputs width 16; the backbone expects 32"
    ):
        MultimodalModel({"text": TextTokenizer(16, encoding=byte_encoding)}, Transformer(32, 1, 4))


def test_missing_tokenizer_and_head(tiny_lm):
    with pytest.raises(InputError, match="no 'image' tokenizer"):
        tiny_lm.tokenizer("image")
    with pytest.raises(InputError, match="no 'classifier' head"):
        tiny_lm.head("classifier")
