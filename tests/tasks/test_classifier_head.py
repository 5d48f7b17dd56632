"""Classifier head: pooling over the right tokens, and its configuration errors."""

import pytest
import torch

from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.tasks.classification import Classification
from multimodal.tasks.classifier_head import ClassifierHead
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.tokenizers.text import TextTokenizer
from multimodal.transformer import Transformer

D = 16


def model_with(byte_encoding, class_token=True, pooling="cls"):
    torch.manual_seed(0)
    return MultimodalModel(
        {
            "text": TextTokenizer(D, encoding=byte_encoding),
            "image": ImageTokenizer(D, patch_size=2, channels=1, class_token=class_token),
        },
        Transformer(D, 1, 2),
        {"classifier": ClassifierHead(D, 3, pooling=pooling)},
    ).eval()


def test_cls_pooling_reads_the_class_token_of_each_sample(byte_encoding):
    model = model_with(byte_encoding)
    text, image = model.tokenizer("text"), model.tokenizer("image")
    samples = [
        [image.prepare(torch.rand(4, 4))],  # class token after <|begin_image|>, at column 1
        [text.prepare("look:"), image.prepare(torch.rand(2, 6))],  # after 5 text tokens + marker
    ]
    batch = model.collate(samples)
    hidden = torch.randn(*batch.shape, D)
    pooled = model.head("classifier").pool(hidden, batch)
    assert torch.equal(pooled[0], hidden[0, 1])
    assert torch.equal(pooled[1], hidden[1, 6])


def test_mean_pooling_ignores_padding(byte_encoding):
    model = model_with(byte_encoding, pooling="mean")
    image = model.tokenizer("image")
    batch = model.collate([[image.prepare(torch.rand(2, 2))], [image.prepare(torch.rand(4, 6))]])
    assert batch.padding[0].sum() == 9 - 4  # markers around 1 + 1 tokens against 1 + 6
    hidden = torch.randn(*batch.shape, D)
    head = model.head("classifier")
    pooled = head.pool(hidden, batch)
    torch.testing.assert_close(pooled[0], hidden[0, :4].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))
    torch.testing.assert_close(head(hidden, batch), head.fc(pooled))


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_logits_equal_the_head_over_all_hidden_states(byte_encoding, pooling):
    model = model_with(byte_encoding, pooling=pooling)
    head = model.head("classifier")
    torch.nn.init.normal_(head.fc.weight)
    text, image = model.tokenizer("text"), model.tokenizer("image")
    samples = [
        [image.prepare(torch.rand(4, 4))],
        [text.prepare("look:"), image.prepare(torch.rand(2, 6))],
    ]
    batch = model.collate(samples)
    with torch.no_grad():
        full = head.fc(head.pool(model(batch, mask="bidirectional"), batch))  # every column
        logits = Classification(num_classes=3).logits(model, batch)  # the columns it reads
        torch.testing.assert_close(logits, full, atol=1e-5, rtol=1e-5)
    columns = head.columns(batch)
    assert columns is None if pooling == "mean" else columns.tolist() == [[1], [6]]


def test_head_starts_uniform_and_has_labels():
    head = ClassifierHead(D, labels=["cat", "dog"])
    assert head.num_classes == 2 and head.label(1) == "dog"
    assert ClassifierHead(D, 3).label(2) == "2"
    assert torch.equal(head.fc(torch.randn(4, D)), torch.zeros(4, 2))


def test_cls_pooling_without_an_image_segment_names_the_sample(byte_encoding):
    model = model_with(byte_encoding)
    text, image = model.tokenizer("text"), model.tokenizer("image")
    batch = model.collate([[image.prepare(torch.rand(2, 2))], [text.prepare("no picture")]])
    with pytest.raises(InputError, match="sample 1 has no 'image' segment"):
        model.head("classifier").pool(torch.randn(*batch.shape, D), batch)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_classes": 3, "pooling": "max"}, "pooling 'max' is unknown"),
        ({}, "needs 'num_classes' or 'labels'"),
        ({"num_classes": 3, "labels": ["a", "b"]}, "num_classes=3 but 2 labels"),
    ],
)
def test_bad_head_config(kwargs, match):
    with pytest.raises(InputError, match=match):
        ClassifierHead(D, **kwargs)
