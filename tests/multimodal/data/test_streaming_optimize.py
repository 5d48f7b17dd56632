"""`mm-data optimize` and the streaming datamodules: shards of every kind give the examples the
folder datamodules give, prepared by the same preprocessors; bad inputs are named."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from multimodal.cli.data import main as mm_data
from multimodal.data.images import ImageFolderDataModule
from multimodal.data.optimize import Output, optimize_images, optimize_pairs, optimize_speech
from multimodal.data.optimize_text import optimize_documents, optimize_text
from multimodal.data.pairs import SameClassPairsDataModule
from multimodal.data.speech import SpeechDataModule
from multimodal.data.streaming_sets import (
    StreamingImageDataModule,
    StreamingPairsDataModule,
    StreamingSpeechDataModule,
    StreamingTextDataModule,
    open_image,
    read_audio,
)
from multimodal.data.text import TextDataModule
from multimodal.errors import InputError
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor
from multimodal.tokenizers.text_preprocessor import TextPreprocessor
from multimodal.tokenizers.vocab import write_ranks

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGITS = [str(d) for d in range(10)]
IMAGE = ImagePreprocessor(patch_size=4, channels=1)
AUDIO = AudioPreprocessor(max_seconds=1.0)


def streamed(data, split: str) -> list:
    """Every example of a split, through litdata's loader, in its order."""
    data.setup()
    return [ex for batch in data.loader(split) for ex in batch]


def stream(cls, root, **kwargs):
    preprocessors = {"image": IMAGE, "audio": AUDIO, **kwargs.pop("preprocessors", {})}
    return cls(root, preprocessors=preprocessors, collate_fn=list, batch_size=4, **kwargs)


def same_examples(streamed_examples, folder_examples, key: str) -> None:
    """The same examples, matched by `meta[key]`: equal segments and targets."""
    ours = {ex.meta[key]: ex for ex in streamed_examples}
    theirs = {ex.meta[key]: ex for ex in folder_examples}
    assert len(ours) == len(streamed_examples) and set(ours) == set(theirs)
    for name, ex in ours.items():
        assert ex.target == theirs[name].target, name
        for a, b in zip(ex.segments, theirs[name].segments, strict=True):
            assert a.modality == b.modality and torch.equal(a.data, b.data), name


def test_image_shards_give_the_folders_examples(demo_root, tmp_path):
    root = demo_root / "images" / "mnist5k"
    (root / "train" / "3" / "broken.png").write_bytes(b"not a png")
    Image.open(root / "train" / "3" / "0.png").convert("RGB").save(root / "train" / "3" / "0.jpg")
    with pytest.raises(InputError, match="broken.png is not a readable image"):
        optimize_images(Output(str(tmp_path / "out")), root)
    summary = optimize_images(Output(str(tmp_path / "out")), root, on_bad_sample="skip")
    assert "train 41, val 10, test 10 samples" in summary and "broken.png" in summary
    folder = ImageFolderDataModule(
        root, DIGITS, preprocessors={"image": IMAGE}, collate_fn=list, on_bad_sample="skip"
    )
    folder.setup()
    data = stream(StreamingImageDataModule, tmp_path / "out", classes=DIGITS)
    for split in ("train", "val", "test"):
        dataset = folder.splits[split]
        same_examples(streamed(data, split), [dataset[i] for i in range(len(dataset))], "path")


def test_speech_shards_give_the_manifests_examples(demo_root, tmp_path):
    folder = demo_root / "speech" / "spoken_digits" / "val"
    (folder / "noise.wav").write_bytes(b"RIFF....WAVEfmt nothing")
    with open(folder / "manifest.jsonl", "a") as f:
        f.write(json.dumps({"audio": "noise.wav", "text": "one"}) + "\n")
    splits = {s: str(folder.parent / s / "manifest.jsonl") for s in ("train", "val")}
    summary = optimize_speech(Output(str(tmp_path / "out")), splits, on_bad_sample="skip")
    assert "train 40, val 10 samples" in summary
    assert f"manifest {folder / 'manifest.jsonl'} line 11: audio file" in summary
    manifests = SpeechDataModule(
        splits,
        group_by_length=False,
        verify=True,
        on_bad_sample="skip",
        preprocessors={"audio": AUDIO},
        collate_fn=list,
    )
    manifests.setup()
    data = stream(StreamingSpeechDataModule, tmp_path / "out")
    for split in splits:
        dataset = manifests.splits[split]
        same_examples(streamed(data, split), [dataset[i] for i in range(len(dataset))], "where")


def test_pair_shards_hold_the_drawn_pairs(demo_root, tmp_path):
    speech = demo_root / "speech" / "spoken_words"
    settings = dict(
        images={"root": demo_root / "images" / "mnist5k", "classes": DIGITS},
        speech={s: str(speech / s / "manifest.jsonl") for s in ("train", "val")},
        words=WORDS,
        pairs_per_clip=2,
    )
    summary = optimize_pairs(Output(str(tmp_path / "out")), **settings)
    assert "train 80, val 20 samples" in summary
    drawn = SameClassPairsDataModule(
        **settings, preprocessors={"image": IMAGE, "audio": AUDIO}, collate_fn=list
    )
    drawn.setup()
    data = stream(StreamingPairsDataModule, tmp_path / "out")
    val = drawn.splits["val"]  # drawn once: no redrawing outside training
    same_examples(streamed(data, "val"), [val[i] for i in range(len(val))], "path")
    train = {ex.meta["path"]: ex.target for ex in streamed(data, "train")}
    pairs = {
        f"{image} + {clip.audio}": same for image, clip, _, same in drawn.splits["train"].pairs
    }
    assert train == pairs


def text_module(root, vocab, **kwargs):
    text = TextPreprocessor(vocab=str(vocab))
    return stream(StreamingTextDataModule, root, preprocessors={"text": text}, **kwargs)


def test_text_windows_are_the_in_memory_windows(corpus_root, rank_file, tmp_path):
    root = corpus_root / "text" / "shakespeare"
    summary = optimize_text(Output(str(tmp_path / "out")), root, rank_file, 16, stride=8)
    memory = TextDataModule(
        root,
        block_size=16,
        stride=8,
        preprocessors={"text": TextPreprocessor(vocab=str(rank_file))},
        collate_fn=list,
    )
    memory.setup()
    windows = {s: memory.splits[s] for s in ("train", "val")}
    assert f"train {len(windows['train'])}, val {len(windows['val'])} samples" in summary
    data = text_module(tmp_path / "out", rank_file, block_size=16)
    for split, dataset in windows.items():
        same_examples(streamed(data, split), [dataset[i] for i in range(len(dataset))], "offset")


def test_text_documents_are_tokenized_when_read(corpus_root, rank_file, tmp_path):
    root = corpus_root / "text" / "shakespeare"
    (root / "empty.txt").write_text(" \n")
    summary = optimize_documents(
        Output(str(tmp_path / "out")), root, val_fraction=0.4, on_bad_sample="skip"
    )
    assert "train 2, val 1 samples" in summary and "empty.txt is empty" in summary
    text = TextPreprocessor(vocab=str(rank_file))
    data = text_module(tmp_path / "out", rank_file)
    examples = streamed(data, "train") + streamed(data, "val")
    assert sorted(ex.meta["path"] for ex in examples) == [
        str(root / f"play{i}.txt") for i in range(3)
    ]
    for ex in examples:
        expected = text.encode((root / ex.meta["path"]).read_text()) + [text.eot]
        assert ex.segments[0].data.tolist() == expected


def test_text_of_another_vocabulary_or_window_length_is_refused(corpus_root, rank_file, tmp_path):
    optimize_text(
        Output(str(tmp_path / "out")), corpus_root / "text" / "shakespeare", rank_file, 16
    )
    with pytest.raises(
        InputError, match=r"out/train holds windows of 16 tokens; data.block_size is 32"
    ):
        text_module(tmp_path / "out", rank_file, block_size=32).setup()
    other = {bytes([i]): i for i in range(256)} | {b"th": 256}
    write_ranks(other, tmp_path / "other.tiktoken")
    with pytest.raises(InputError, match="holds token ids of another vocabulary"):
        text_module(tmp_path / "out", tmp_path / "other.tiktoken").setup()


def test_a_bad_text_file_stops_writing_or_is_skipped(corpus_root, rank_file, tmp_path):
    root = corpus_root / "text" / "shakespeare"
    (root / "utf16.txt").write_bytes("To be\n".encode("utf-16-le"))
    with pytest.raises(InputError, match="utf16.txt holds NUL bytes"):
        optimize_text(Output(str(tmp_path / "a")), root, rank_file, 16)
    assert not (tmp_path / "a").exists()  # nothing written
    summary = optimize_text(Output(str(tmp_path / "b")), root, rank_file, 16, on_bad_sample="skip")
    assert "skipped 1 bad sample(s)" in summary and "utf16.txt holds NUL bytes" in summary


def test_the_cli_refuses_a_folder_that_is_not_empty_unless_forced(demo_root, tmp_path, capsys):
    out = tmp_path / "shards"
    args = [
        "optimize",
        "images",
        "--root",
        str(demo_root / "images" / "mnist5k"),
        "--out",
        str(out),
    ]
    mm_data(args)
    assert "train 40, val 10, test 10 samples" in capsys.readouterr().out
    (out / "test" / "index.json").write_text("{}")  # a damaged split the next run replaces
    (out / "notes.md").write_text("mine")
    with pytest.raises(SystemExit) as stop:
        mm_data(args)
    assert stop.value.code == 2
    assert f"optimize output folder {out} exists and is not empty" in capsys.readouterr().err
    one_tree = str(demo_root / "images" / "mnist5k" / "train")
    mm_data([*args[:3], one_tree, *args[4:], "--val-fraction", "0.25", "--force"])
    assert "train 30, val 10 samples" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["notes.md", "train", "val"]
    assert (out / "notes.md").read_text() == "mine"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda out: None, "shard folder {out} does not exist"),
        (lambda out: out.mkdir(), "shard folder {out} holds no litdata split folders"),
        (
            lambda out: (
                (out / "train").mkdir(parents=True)
                or (out / "train" / "index.json").write_text("[1]")
            ),
            "shard folder {out}/train cannot be read as litdata shards",
        ),
    ],
    ids=["missing", "empty", "not-litdata"],
)
def test_a_shard_folder_that_is_missing_or_not_litdata_is_named(tmp_path, make, match):
    out = tmp_path / "shards"
    make(out)
    with pytest.raises(InputError, match=match.format(out=out)):
        stream(StreamingImageDataModule, out, classes=DIGITS).setup()


def test_shards_of_another_kind_or_a_url_without_splits_are_named(demo_root, tmp_path):
    optimize_images(Output(str(tmp_path / "out")), demo_root / "images" / "mnist5k")
    with pytest.raises(
        InputError, match=r"fields \['image', 'label', 'path'\]; expected \['audio'"
    ):
        stream(StreamingSpeechDataModule, tmp_path / "out").setup()
    with pytest.raises(InputError, match="data.splits must name the splits under shard URL"):
        stream(StreamingImageDataModule, "s3://bucket/shards", classes=DIGITS).setup()
    data = stream(StreamingImageDataModule, tmp_path / "out", classes=DIGITS[:9])
    with pytest.raises(InputError, match=r"has class '9', not one of \['0'"):
        streamed(data, "val")


def test_output_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file; expected a folder"):
        Output(str(tmp_path / "file")).check()


def test_stored_bytes_that_do_not_decode_are_named(tmp_path):
    with pytest.raises(InputError, match="image x.png is not a readable image"):
        open_image(b"\x89PNG but not", "image x.png")
    sf.write(tmp_path / "clip.wav", np.zeros(32000, np.float32), 16000)
    clip = (tmp_path / "clip.wav").read_bytes()
    samples, rate = read_audio(clip, "audio of line 3", 5.0)
    assert rate == 16000 and samples.shape == (32000,)
    for data, match in [
        (b"RIFF junk", "audio of line 3 is not a readable WAV, FLAC or OGG file"),
        (clip[: len(clip) // 2], "audio of line 3 is truncated"),
        (clip, r"audio of line 3 is 2.00 s long; the audio tokenizer takes at most 1 s"),
    ]:
        with pytest.raises(InputError, match=match):
            read_audio(data, "audio of line 3", 1.0)
