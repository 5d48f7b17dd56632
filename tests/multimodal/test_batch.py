"""`collate`: samples of any modalities to one padded batch, with preprocessors and no model."""

import pytest
import torch

from multimodal.batch import collate
from multimodal.errors import InputError
from multimodal.segment import Segment
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor
from multimodal.tokenizers.text_preprocessor import TextPreprocessor


@pytest.fixture
def preprocessors(byte_encoding):
    return {"text": TextPreprocessor(encoding=byte_encoding)}


def seg(*ids):
    return Segment("text", torch.tensor(ids))


def test_right_padding(preprocessors):
    batch = collate([[seg(1, 2, 3)], [seg(4), seg(5)]], preprocessors)
    assert batch.shape == (2, 3)
    assert batch.padding.tolist() == [[False, False, False], [False, False, True]]
    assert batch.positions.tolist() == [[0, 1, 2], [0, 1, 0]]
    assert batch.modality_ids.tolist() == [[0, 0, 0], [0, 0, -1]]
    # three text segments; the second sample's two segments follow each other
    assert batch.slots["text"].tolist() == [[0, 1, 2], [3, -1, -1], [4, -1, -1]]
    assert batch.gather("text", batch.inputs["text"]["ids"]).tolist() == [[1, 2, 3], [4, 5, -100]]


def test_left_padding(preprocessors):
    batch = collate([[seg(1, 2, 3)], [seg(4)]], preprocessors, pad_side="left", prefix_lens=[0, 1])
    assert batch.padding.tolist() == [[False, False, False], [True, True, False]]
    assert batch.positions.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert batch.gather("text", batch.inputs["text"]["ids"]).tolist() == [
        [1, 2, 3],
        [-100, -100, 4],
    ]
    assert batch.prefix_len.tolist() == [0, 1]


@pytest.mark.parametrize(
    "samples, match",
    [
        ([], "batch is empty"),
        ([[seg(1)], []], "sample 1 has no segments"),
        ([[Segment("smell", torch.zeros(3))]], "sample 0 has a 'smell' segment"),
        ([[seg(*range(9))]], "sample 0 is 9 tokens long; the model's context is 8"),
    ],
)
def test_bad_batches(preprocessors, samples, match):
    with pytest.raises(InputError, match=match):
        collate(samples, preprocessors, max_len=8)


def test_markers_wrap_other_modalities_and_join_the_prefix(preprocessors):
    text = preprocessors["text"]
    toks = {**preprocessors, "image": ImagePreprocessor(patch_size=2, channels=1)}
    begin, end = text.markers("image")
    image = toks["image"].prepare(torch.rand(2, 4))  # 2 patches
    batch = collate([[image, seg(7)], [seg(5), image]], toks, prefix_lens=[2, 1])
    ids = batch.gather("text", batch.inputs["text"]["ids"], fill=-7)  # -7: an image token
    assert ids.tolist() == [[begin, -7, -7, end, 7], [5, begin, -7, -7, end]]
    # the prefix of sample 0 covered its image: both markers join it; sample 1's prefix ended
    # before the image
    assert batch.prefix_len.tolist() == [4, 1]
    plain = collate([[image, seg(7)]], toks, prefix_lens=[2], markers=False)
    assert plain.shape == (1, 3) and plain.prefix_len.tolist() == [2]
    assert text.markers("text") is None and text.markers("smell") is None
