"""`Batch.layout` and `layout.tokens`: every column names its origin, checked against the
tokenizers' geometry (patch size and resize for images, the conv stem's stride for audio)."""

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from multimodal.batch import collate
from multimodal.layout import tokens
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor
from multimodal.tokenizers.conv_stem import ConvStem
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor, grid_size
from multimodal.tokenizers.text_preprocessor import TextPreprocessor

RATE = 16000


@pytest.fixture(scope="module")
def preps(rank_file):
    return {
        "text": TextPreprocessor(str(rank_file)),
        "image": ImagePreprocessor(patch_size=8, channels=3, max_patches=64),
        "audio": AudioPreprocessor(sample_rate=RATE, max_seconds=2.0),
    }


def image(h, w):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def clip(seconds):
    return (np.random.default_rng(1).standard_normal(int(seconds * RATE)) * 0.1, RATE)


@pytest.mark.parametrize("pad_side", ["right", "left"])
def test_every_column_names_its_segment_and_modality(preps, pad_side):
    samples = [
        [preps["text"].prepare("Hello, world")],
        [preps["image"].prepare(image(30, 50)), preps["text"].prepare("a photo")],
        [preps["audio"].prepare(clip(0.33)), preps["text"].prepare("said")],
    ]
    batch = collate(samples, preps, pad_side=pad_side)
    grid = tokens(batch, preps)
    names = list(preps)
    for b, row in enumerate(grid):
        for t, tok in enumerate(row):
            if batch.padding[b, t]:
                assert tok is None
                continue
            assert (tok.sample, tok.column) == (b, t)
            assert names[batch.modality_ids[b, t]] == tok.modality
    # each placed segment's columns are exactly the columns its slots name
    for p in batch.layout:
        slot = batch.slots[p.modality][p.row]
        cols = slot[slot >= 0] - p.sample * batch.shape[1]
        assert cols.tolist() == list(range(p.start, p.start + p.length))
    kinds = [[t.kind for t in row if t is not None] for row in grid]
    n_text = len(samples[1][1].data)
    n_patches = preps["image"].num_tokens(samples[1][0])
    assert kinds[1] == ["marker"] + ["patch"] * n_patches + ["marker"] + ["text"] * n_text
    assert [t.segment for t in grid[1] if t is not None and t.kind == "marker"] == [0, 0]
    assert {t.segment for t in grid[1] if t is not None and t.kind == "text"} == {1}


def test_text_pieces_are_the_tokens_bytes(preps):
    text = "Héllo wörld, 世界!"
    batch = collate([[preps["text"].prepare(text)]], preps)
    pieces = [t.piece for t in tokens(batch, preps)[0]]
    assert all(t.kind == "text" for t in tokens(batch, preps)[0])
    joined = b"".join(
        preps["text"].encoding.decode_single_token_bytes(i) for i in batch.inputs["text"]["ids"][0]
    )
    assert joined.decode() == text
    for piece, i in zip(pieces, batch.inputs["text"]["ids"][0].tolist()):
        raw = preps["text"].encoding.decode_single_token_bytes(i)
        # a piece that splits a character shows those bytes as \xNN, never as U+FFFD
        assert piece == raw.decode("utf-8", "backslashreplace") and "\ufffd" not in piece


def test_markers_show_their_names(preps):
    batch = collate([[preps["image"].prepare(image(16, 16))]], preps)
    row = tokens(batch, preps)[0]
    assert (row[0].piece, row[-1].piece) == ("<|begin_image|>", "<|end_image|>")
    assert row[0].kind == row[-1].kind == "marker"


@pytest.mark.parametrize("size", [(30, 50), (64, 64), (7, 200), (300, 90)])
def test_patch_boxes_follow_the_resize(preps, size):
    H, W = size
    prep = preps["image"]
    seg = prep.prepare(image(H, W))
    h, w = grid_size(H, W, 8, 64)
    batch = collate([[seg]], preps, markers=False)
    patches = tokens(batch, preps)[0]
    assert len(patches) == h * w
    for tok in patches:
        r, c = tok.patch
        x0, y0, x1, y1 = tok.box
        # the patch's pixels in the resized image (h p, w p) map back by W / (w p), H / (h p)
        assert x0 == pytest.approx(c * 8 * W / (w * 8)) and x1 == pytest.approx((c + 1) * W / w)
        assert y0 == pytest.approx(r * 8 * H / (h * 8)) and y1 == pytest.approx((r + 1) * H / h)
    assert [t.patch for t in patches] == [(r, c) for r in range(h) for c in range(w)]
    assert patches[-1].box[2:] == pytest.approx((W, H))  # the boxes tile the whole image


def test_class_token_comes_first(preps):
    prep = ImagePreprocessor(patch_size=8, channels=3, class_token=True)
    batch = collate([[prep.prepare(image(16, 24))]], {"image": prep})
    row = tokens(batch, {"image": prep})[0]
    assert [t.kind for t in row] == ["class"] + ["patch"] * 6
    assert row[1].box == (0.0, 0.0, 8.0, 8.0)


def test_augmented_images_give_boxes_in_the_augmented_frame(preps):
    prep = ImagePreprocessor(patch_size=8, channels=3, augment=[v2.Resize((40, 24))])
    seg = prep.prepare(image(100, 60), train=True)
    assert seg.meta["size"] == (40, 24) and seg.meta["augmented"]
    row = tokens(collate([[seg]], {"image": prep}), {"image": prep})[0]
    assert row[-1].box[2:] == pytest.approx((24, 40))


@pytest.mark.parametrize("seconds", [0.033, 0.33, 1.0, 1.999])
def test_audio_spans_follow_the_conv_stride(preps, seconds):
    prep = preps["audio"]
    seg = prep.prepare(clip(seconds))
    n = ConvStem.out_length(seg.data.shape[-1])
    batch = collate([[seg]], preps, markers=False)
    spans = [t.span for t in tokens(batch, preps)[0]]
    assert len(spans) == n
    step = 2 * 160 / RATE  # two 10 ms frames per token
    for i, (a, b) in enumerate(spans):
        assert a == pytest.approx(i * step)
        assert b == pytest.approx(min((i + 1) * step, seg.meta["seconds"]))
    assert spans[-1][1] == pytest.approx(int(seconds * RATE) / RATE)


def test_sources_are_kept(preps, tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(image(16, 16)).save(path)
    batch = collate([[preps["image"].prepare(str(path))]], preps, markers=False)
    assert {t.source for t in tokens(batch, preps)[0]} == {str(path)}


def test_a_new_modality_numbers_its_tokens(preps):
    from multimodal.segment import Segment
    from multimodal.tokenizer import Preprocessor

    class Sensor(Preprocessor):
        modality = "sensor"

        def num_tokens(self, seg):
            return seg.data.shape[0]

        def collate(self, segs):
            return {"x": torch.stack([s.data for s in segs])}

    batch = collate([[Segment("sensor", torch.zeros(3, 2))]], {"sensor": Sensor()})
    assert [t.label for t in tokens(batch, {"sensor": Sensor()})[0]] == [
        "sensor 0",
        "sensor 1",
        "sensor 2",
    ]


def test_a_piece_inside_a_character_shows_its_bytes(preps):
    batch = collate([[preps["text"].prepare([0xE4])]], preps)  # 0xE4 begins a 3-byte character
    assert tokens(batch, preps)[0][0].piece == "\\xe4"


def test_the_layout_survives_device_transfer_and_pickling(preps):
    import pickle

    from pytorch_lightning.utilities import move_data_to_device

    batch = collate([[preps["image"].prepare(image(16, 16)), preps["text"].prepare("hi")]], preps)
    for moved in (move_data_to_device(batch, "cpu"), pickle.loads(pickle.dumps(batch))):
        assert list(moved.layout) == list(batch.layout)
        assert tokens(moved, preps) == tokens(batch, preps)
