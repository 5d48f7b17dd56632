import numpy as np
import pytest
import soundfile
from PIL import Image

import multimodal


@pytest.fixture
def model_file(tmp_path, checkpoint):
    return checkpoint(tmp_path / "model.ckpt", modalities=("image", "audio"))


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (12, 20), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    wave = 0.3 * np.sin(2 * np.pi * 440 * np.arange(4800) / 16000)
    soundfile.write(path, wave, 16000)
    return str(path)


@pytest.fixture
def predictor(model_file):
    return multimodal.load(model_file)
