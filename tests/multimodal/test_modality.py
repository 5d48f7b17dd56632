"""Modality detection: every input kind, every file format by its bytes, and the refusals."""

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from multimodal.errors import InputError
from multimodal.modality import detect, sniff, split

TOKENIZERS = {"text": None, "image": None, "audio": None}


def image_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def audio_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(1600, np.float32), 16000, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt, name",
    [("PNG", "a.png"), ("JPEG", "a.jpg"), ("GIF", "a.gif"), ("BMP", "a.bmp"), ("WEBP", "a.webp")]
    + [("TIFF", "a.tif")],
)
def test_image_files_are_told_by_their_bytes(tmp_path, fmt, name):
    data = image_bytes(fmt)
    assert sniff(data[:16])[0] == "image"
    for path in (tmp_path / name, tmp_path / "no_extension"):
        path.write_bytes(data)
        assert detect(str(path), TOKENIZERS) == "image"
        assert split(path) == ("image", str(path))  # a Path works as well as a str


@pytest.mark.parametrize("fmt, name", [("WAV", "a.wav"), ("FLAC", "a.flac"), ("OGG", "a.ogg")])
def test_audio_files_are_told_by_their_bytes(tmp_path, fmt, name):
    path = tmp_path / name
    path.write_bytes(audio_bytes(fmt))
    assert detect(str(path), TOKENIZERS) == "audio"


def test_in_memory_inputs_by_type():
    gray = np.zeros((8, 8), np.uint8)
    assert detect("What digit is this?") == "text"
    assert detect("What is in photo.png") == "text"  # words, not a mistyped file name
    assert detect(Image.fromarray(gray)) == "image"
    assert detect(gray) == "image"  # 2-D uint8
    assert detect(np.zeros((8, 8, 3), np.float32)) == "image"  # 3-D array (H, W, C)
    assert detect(torch.zeros(3, 8, 8)) == "image"  # 3-D tensor (C, H, W)
    assert detect((np.zeros(1600, np.float32), 16000)) == "audio"
    assert detect((torch.zeros(1600), np.int64(8000))) == "audio"


def test_a_mapping_names_the_modality_and_unwraps_the_value():
    assert split({"text": "photo.png"}) == ("text", "photo.png")
    wave = np.zeros(1600, np.float32)
    modality, value = split({"audio": (wave, 16000)})
    assert modality == "audio" and value[0] is wave
    with pytest.raises(InputError, match=r"input 3 is a mapping with keys \['image', 'text'\]"):
        split({"image": "a.png", "text": "b"}, "input 3")


def test_a_file_whose_name_and_bytes_disagree_is_refused(tmp_path):
    wav_as_png = tmp_path / "photo.png"
    wav_as_png.write_bytes(audio_bytes("WAV"))
    with pytest.raises(
        InputError, match=f"{wav_as_png} is named like an image file but holds audio"
    ):
        detect(str(wav_as_png))
    png_as_wav = tmp_path / "clip.wav"
    png_as_wav.write_bytes(image_bytes("PNG"))
    with pytest.raises(InputError, match="clip.wav is named like an audio file but holds image"):
        detect(str(png_as_wav))
    text_as_png = tmp_path / "notes.png"
    text_as_png.write_text("BM not really a bitmap, just words")
    with pytest.raises(InputError, match="notes.png is named like an image file but its contents"):
        detect(str(text_as_png))
    plain = tmp_path / "notes.txt"
    plain.write_text("words")
    with pytest.raises(InputError, match="notes.txt is a file but its contents are neither"):
        detect(str(plain))


def test_refusals_name_the_input():
    with pytest.raises(InputError, match="input 1 'missing.png' is named like an image file"):
        detect("missing.png", name="input 1")
    with pytest.raises(InputError, match=r"input 0 is a 1-D float array .* \(array, sample_rate\)"):
        detect(np.zeros(1600, np.float32), name="input 0")
    with pytest.raises(
        InputError, match=r"input 2 is an array of shape \(8, 8\) and dtype float32"
    ):
        detect(np.zeros((8, 8), np.float32), name="input 2")
    with pytest.raises(InputError, match="input 0 is a bytes"):
        detect(b"raw", name="input 0")
    with pytest.raises(InputError, match=r"input 4 needs the 'audio' tokenizer, .* has \['text'\]"):
        detect((np.zeros(1600), 16000), {"text": None}, name="input 4")
    with pytest.raises(InputError, match="input 0 needs the 'audio' tokenizer"):
        detect({"audio": "a.wav"}, {"text": None, "image": None}, name="input 0")
    assert not Path("missing.png").exists()
