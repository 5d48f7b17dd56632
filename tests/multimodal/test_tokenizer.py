"""The two halves of every tokenizer, built from one config: the preprocessor built alone (no
module, no parameters, picklable) prepares, counts and collates exactly as the module's own."""

import pickle

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from multimodal import registry
from multimodal.batch import collate
from multimodal.errors import InputError
from multimodal.model import MultimodalModel
from multimodal.tokenizer import Preprocessor, Tokenizer
from multimodal.tokenizers.image import ImageTokenizer
from multimodal.tokenizers.text import TextTokenizer
from multimodal.train import build_preprocessors
from multimodal.transformer import Transformer

INVERT = "torchvision.transforms.v2.RandomInvert"
RAW = {
    "text": ["To be, or not to be", "the sea"],
    "image": [np.full((28, 28), 200, np.uint8), np.zeros((14, 42, 3), np.uint8)],
    "audio": [
        (np.sin(np.arange(3200) / 5).astype(np.float32), 16000),
        (np.zeros(8000, np.float32), 8000),
    ],
}


@pytest.fixture(scope="module")
def demo_config(rank_file):
    """The five-task demo's config: a text, an image and an audio tokenizer."""
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=multitask_demo",
                f"model.tokenizers.text.vocab={rank_file}",
                "model.backbone.d_model=16",
                "model.tokenizers.image.augment=[{_target_: " + INVERT + "}]",
            ],
        )


def same_segments(a, b) -> None:
    assert a.modality == b.modality and a.meta == b.meta and torch.equal(a.data, b.data)


def test_each_config_builds_a_preprocessor_alone_that_works_as_the_modules_own(demo_config):
    preprocessors = build_preprocessors(demo_config)
    assert list(preprocessors) == ["text", "image", "audio"]
    for name, prep in preprocessors.items():
        module = instantiate(demo_config.model.tokenizers[name], _convert_="all")
        assert isinstance(prep, Preprocessor) and not isinstance(prep, torch.nn.Module)
        assert type(prep) is type(module.preprocessor) is module.preprocessor_class
        segs = [prep.prepare(raw) for raw in RAW[name]]
        for seg, raw in zip(segs, RAW[name]):
            same_segments(seg, module.preprocessor.prepare(raw))
            assert prep.num_tokens(seg) == module.num_tokens(seg)
        collated = prep.collate(segs)
        assert collated.keys() == module.collate(segs).keys()
        assert all(torch.equal(v, module.collate(segs)[k]) for k, v in collated.items())
        assert module(collated).shape[:2] == (2, max(prep.num_tokens(s) for s in segs))
    (invert,) = preprocessors["image"].augment
    assert type(invert).__name__ == "RandomInvert"


def test_preprocessors_pickle_without_a_parameter_and_prepare_the_same(demo_config):
    for name, prep in build_preprocessors(demo_config).items():
        blob = pickle.dumps(prep)
        assert b"_rebuild_parameter" not in blob, name
        assert b"_rebuild_parameter" in pickle.dumps(
            instantiate(demo_config.model.tokenizers[name], _convert_="all")
        )  # the module half does carry its weights
        copy = pickle.loads(blob)
        for raw in RAW[name]:
            same_segments(copy.prepare(raw), prep.prepare(raw))


def test_the_module_config_builds_the_preprocessor_and_bad_arguments_are_named():
    prep = ImageTokenizer.build_preprocessor(d_model=8, pos_grid=[2, 2], patch_size=4)
    assert prep.patch_size == 4 and prep.class_token is False
    module = ImageTokenizer(8, pos_grid=[2, 2], patch_size=4, class_token=True)
    assert module.preprocessor.class_token and module.class_token.shape == (8,)
    with pytest.raises(TypeError, match="'patch'"):
        ImageTokenizer.build_preprocessor(d_model=8, patch=4)
    with pytest.raises(TypeError, match="'patch'"):
        ImageTokenizer(8, patch=4)
    with pytest.raises(InputError, match="channels' must be 1 or 3"):
        ImageTokenizer.build_preprocessor(d_model=8, channels=2)
    with pytest.raises(TypeError, match="positional"):
        ImageTokenizer(8, 4)  # only d_model goes by position


def test_stored_configs_name_the_classes_they_always_named(byte_encoding):
    from multimodal.tokenizers.vocab import export_vocab

    stored = {
        "text": {
            "_target_": "multimodal.tokenizers.text.TextTokenizer",
            "d_model": 8,
            "vocab": export_vocab(byte_encoding),
        },
        "image": {
            "_target_": "multimodal.tokenizers.image.ImageTokenizer",
            "d_model": 8,
            "patch_size": 4,
            "channels": 1,
        },
        "audio": {"_target_": "multimodal.tokenizers.audio.AudioTokenizer", "d_model": 8},
    }
    for name, node in stored.items():
        module = registry.build(node, f"model.tokenizers.{name}")
        assert isinstance(module, Tokenizer) and module.preprocessor.modality == name


def test_the_model_collates_with_its_tokenizers_preprocessors(byte_encoding):
    text = TextTokenizer(8, encoding=byte_encoding)
    image = ImageTokenizer(8, patch_size=4, channels=1)
    model = MultimodalModel({"text": text, "image": image}, Transformer(8, 1, 2))
    assert model.preprocessors == {"text": text.preprocessor, "image": image.preprocessor}
    assert model.preprocessor("image") is image.preprocessor
    with pytest.raises(InputError, match="the model has no 'smell' tokenizer"):
        model.preprocessor("smell")
    samples = [[image.prepare(RAW["image"][0]), text.prepare("a cat")], [text.prepare("to be")]]
    ours, plain = model.collate(samples), collate(samples, model.preprocessors, max_len=1024)
    assert torch.equal(ours.padding, plain.padding) and ours.slots.keys() == plain.slots.keys()
    assert torch.equal(ours.inputs["image"]["patches"], plain.inputs["image"]["patches"])
    assert model(ours).shape == (2, ours.shape[1], 8)
