"""Every `conf/data/streaming_*.yaml` composes in place of its folder config, and its datamodule,
built from the config alone as training builds it, gives the task's batches from shards."""

import pytest
from hydra import compose, initialize_config_module

from multimodal.data.optimize import Output, optimize_images, optimize_pairs, optimize_speech
from multimodal.data.optimize_text import optimize_text
from multimodal.train import build_tasks

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def write_shards(kind: str, root, rank_file) -> None:
    out = Output(str(root / "streaming" / kind))
    speech = {
        s: str(root / "speech" / "spoken_digits" / s / "manifest.jsonl") for s in ("train", "val")
    }
    images = root / "images" / "mnist5k"
    if kind == "text":
        optimize_text(out, root / "text" / "shakespeare", rank_file, 32)
    elif kind == "images":
        optimize_images(out, images)
    elif kind == "speech":
        optimize_speech(out, speech)
    else:
        optimize_pairs(out, {"root": images, "classes": [str(d) for d in range(10)]}, speech, WORDS)


CASES = {  # data config -> (experiment, the key of its data, the overrides that select it)
    "text": ("shakespeare", "data", ["data=streaming_text", "data.block_size=32"]),
    "images": ("mnist", "data", ["data=streaming_images"]),
    "speech": ("spoken_digits", "data", ["data=streaming_speech"]),
    "pairs": (
        "multitask_demo",
        "tasks.same.data",
        ["data@tasks.same.data=streaming_pairs", "~tasks.same.data.words"],  # drawn when written
    ),
}


CLASSES = {
    "text": "StreamingTextDataModule",
    "images": "StreamingImageDataModule",
    "speech": "StreamingSpeechDataModule",
    "pairs": "StreamingPairsDataModule",
}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_streaming_config_gives_its_tasks_batches(kind, demo_root, rank_file):
    write_shards(kind, demo_root, rank_file)
    experiment, key, overrides = CASES[kind]
    if kind != "images":
        overrides = [*overrides, f"model.tokenizers.text.vocab={rank_file}"]
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose(
            "train",
            [
                f"experiment={experiment}",
                f"data_root={demo_root}",
                "run_dir=/tmp/unused",
                *overrides,
                f"{key}.root={demo_root / 'streaming' / kind}",
                f"{key}.batch_size=4",
            ],
        )
    _, data, _ = build_tasks(cfg)
    name = "same" if kind == "pairs" else next(iter(data.datamodules))
    streaming = data.datamodules[name]
    streaming.setup("fit")
    batch = next(iter(streaming.train_dataloader()))
    assert type(streaming).__name__ == CLASSES[kind]
    assert batch.modality_ids.shape[0] == streaming.train_batch_size  # a mix shares its steps
    assert list(batch.targets) == [name]
