"""Streaming read throughput: samples/s through the training DataLoader (2 workers) for shards
written by `mm-data optimize` and read by the streaming datamodules, against the folder
datamodules reading the same files (`ImageFolderDataModule`, `SpeechDataModule`).

Both sides prepare every sample with the same preprocessor (the tokenizer's CPU half) and hand
batches of examples to the training process, in their own orders: litdata's chunk order for
the shards, `SeededBatches` for the folders. Inputs: generated PNG images in class folders
and generated WAV clips with a manifest, local files (no object store). One epoch is timed;
litdata starts its workers each epoch, the folder loaders keep theirs.
"""

import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from common import measure, record
from PIL import Image

from multimodal.data.images import ImageFolderDataModule
from multimodal.data.optimize import Output, optimize_images, optimize_speech
from multimodal.data.speech import SpeechDataModule
from multimodal.data.streaming_sets import StreamingImageDataModule, StreamingSpeechDataModule
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor

UNIT = "samples/s"
CLASSES = [str(c) for c in range(8)]


def write_images(folder: Path, count: int) -> None:
    """`count` RGB PNGs of 96x128 pixels (smooth gradients and noise), in 8 class folders."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:128]
    for i in range(count):
        base = (x * (i % 7 + 1) + y * (i % 5 + 1)) % 256
        pixels = np.stack([base, base[::-1], base[:, ::-1]], -1) + rng.integers(0, 32, (96, 128, 3))
        path = folder / CLASSES[i % len(CLASSES)] / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)


def write_clips(folder: Path, count: int) -> Path:
    """`count` WAV clips of 1 to 3 s at 16 kHz (tones in noise) and their manifest."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        t = np.arange(int(16000 * (1 + i % 3))) / 16000
        wave = 0.3 * np.sin(2 * np.pi * (200 + 20 * i) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"{i:04d}.wav", wave.astype(np.float32), 16000)
        rows.append({"audio": f"{i:04d}.wav", "text": "a clip"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def consume(loader) -> int:
    return sum(len(batch) for batch in loader)


def throughput(ours, peer, count: int, repeats: int) -> tuple[float, float]:
    ours_loader, peer_loader = ours.train_dataloader(), peer.train_dataloader()
    assert consume(ours_loader) == consume(peer_loader) == count  # the same samples, once
    t_ours, t_peer = measure(
        lambda: consume(ours_loader), lambda: consume(peer_loader), repeats, warmup=1
    )
    return count / t_ours, count / t_peer


def run(images: int = 512, clips: int = 128, workers: int = 2, repeats: int = 5) -> list[dict]:
    settings = {"collate_fn": list, "num_workers": workers, "batch_size": 32}
    image = {"image": ImagePreprocessor(patch_size=16, channels=3, max_patches=64)}
    audio = {"audio": AudioPreprocessor(max_seconds=5.0)}
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_images(tmp / "images", images)
        optimize_images(Output(str(tmp / "image_shards")), tmp / "images", val_fraction=0.0)
        shards = StreamingImageDataModule(
            tmp / "image_shards", CLASSES, preprocessors=image, **settings
        )
        folder = ImageFolderDataModule(
            tmp / "images", CLASSES, val_fraction=0.0, preprocessors=image, **settings
        )
        shards.setup()
        folder.setup()
        ours, peer = throughput(shards, folder, images, repeats)
        config = {"images": images, "workers": workers, "size": "96x128 PNG", "patches": 64}
        peer_name = "ImageFolderDataModule (same preprocessing)"
        records.append(record("streaming_images_loader", ours, peer, peer_name, UNIT, True, config))

        (tmp / "clips").mkdir()
        manifest = write_clips(tmp / "clips", clips)
        optimize_speech(Output(str(tmp / "clip_shards")), {"train": str(manifest)})
        shards = StreamingSpeechDataModule(tmp / "clip_shards", preprocessors=audio, **settings)
        folder = SpeechDataModule({"train": str(manifest)}, preprocessors=audio, **settings)
        shards.setup()
        folder.setup()
        ours, peer = throughput(shards, folder, clips, repeats)
        config = {"clips": clips, "workers": workers, "seconds": "1 to 3", "format": "WAV 16 kHz"}
        peer_name = "SpeechDataModule (same preprocessing)"
        records.append(record("streaming_speech_loader", ours, peer, peer_name, UNIT, True, config))
    return records


if __name__ == "__main__":
    for r in run():
        print(r)
