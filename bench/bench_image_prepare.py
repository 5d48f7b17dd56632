"""Image `prepare` throughput in a DataLoader with 2 workers: our `ImagePreprocessor.prepare`
(the image tokenizer's CPU half, what datamodules hand to workers) against timm's evaluation
transform (PIL loading, resize, center crop, to tensor, normalize).

Both sides turn the same JPEG files into model-ready tensors for a patch-16 model with a
196-patch budget: ours keeps each image's aspect ratio (at most 196 patches), timm resizes and
crops to 224x224 (196 patches). Files: crops of the two scikit-learn sample photos (from
`mm-data prepare`, or generated noise when data/ is absent) at assorted sizes.
"""

import tempfile
from pathlib import Path

import numpy as np
import torch
from common import measure, record
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from multimodal.tokenizers.image_preprocessor import ImagePreprocessor

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "data" / "images" / "photos"
PEER, UNIT = "timm create_transform(224) + PIL", "images/s"


class Files(Dataset):
    def __init__(self, paths: list[Path], prepare):
        self.paths, self.prepare = paths, prepare

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.prepare(self.paths[i])


class TimmPrepare:
    """What a timm user runs per file: PIL load to RGB, then the model's eval transform."""

    def __init__(self):
        from timm.data import create_transform

        self.transform = create_transform(input_size=224, is_training=False)

    def __call__(self, path: Path) -> torch.Tensor:
        with Image.open(path) as img:
            return self.transform(img.convert("RGB"))


def write_inputs(folder: Path, count: int) -> tuple[list[Path], str]:
    """`count` JPEGs of assorted sizes (shorter side 240..600), and where their pixels came from."""
    rng = np.random.default_rng(0)
    photos = sorted(PHOTOS.glob("*.jpg"))
    sources = [np.asarray(Image.open(p).convert("RGB")) for p in photos]
    paths = []
    for i in range(count):
        h, w = int(rng.integers(240, 601)), int(rng.integers(240, 801))
        if sources:
            src = sources[i % len(sources)]
            img = Image.fromarray(src).resize((w, h), Image.Resampling.BILINEAR)
        else:
            img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        paths.append(folder / f"{i:03d}.jpg")
        img.save(paths[-1], quality=90)
    return paths, "scikit-learn sample photos, resized" if sources else "generated noise"


def loader(paths: list[Path], prepare, workers: int) -> DataLoader:
    return DataLoader(
        Files(paths, prepare),
        batch_size=16,
        num_workers=workers,
        collate_fn=list,
        persistent_workers=workers > 0,
    )


def run(count: int = 256, workers: int = 2, repeats: int = 5) -> list[dict]:
    prep = ImagePreprocessor(patch_size=16, channels=3, max_patches=196)
    peer = TimmPrepare()
    with tempfile.TemporaryDirectory() as tmp:
        paths, source = write_inputs(Path(tmp), count)
        ours_loader = loader(paths, prep.prepare, workers)
        peer_loader = loader(paths, peer, workers)

        def consume(dl):
            return sum(len(batch) for batch in dl)

        t_ours, t_peer = measure(
            lambda: consume(ours_loader), lambda: consume(peer_loader), repeats, warmup=1
        )
    config = {"images": count, "workers": workers, "source": source, "patch": 16, "patches": 196}
    return [
        record("image_prepare_loader", count / t_ours, count / t_peer, PEER, UNIT, True, config)
    ]


if __name__ == "__main__":
    for r in run():
        print(r)
