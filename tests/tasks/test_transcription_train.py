"""experiment=spoken_digits through train(cfg) for both kinds of transcription, then mm-infer on
the checkpoint."""

import json

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_module

from multimodal.checkpoint import load_model
from multimodal.cli.infer import run
from multimodal.data.prepare_speech import word_ranks
from multimodal.errors import InputError
from multimodal.options import Options
from multimodal.tasks.transcribe_ar import ARTranscription
from multimodal.tasks.transcribe_ctc import CTCTranscription
from multimodal.tokenizers.vocab import write_ranks
from multimodal.train import train

TONES = {"one": 300.0, "two": 700.0, "three": 1500.0}
TEXTS = ["one", "two", "three", "one two", "two three", "three one", "one one", "three three"]
# (word seconds, loudness) of each "speaker": val and test speak between the two training ones
VOICES = {"train": [(0.10, 0.3), (0.14, 0.5)], "val": [(0.12, 0.4)], "test": [(0.11, 0.45)]}


def say(text: str, seconds=0.12, loudness=0.4, rate=16000) -> np.ndarray:
    parts = []
    for word in text.split():
        t = np.arange(int(seconds * rate)) / rate
        parts += [loudness * np.sin(2 * np.pi * TONES[word] * t), np.zeros(int(0.04 * rate))]
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A data root laid out as `mm-data prepare` writes the spoken digits, in tone "words"."""
    root = tmp_path_factory.mktemp("data")
    speech = root / "speech" / "spoken_digits"
    for split, voices in VOICES.items():
        (speech / split).mkdir(parents=True)
        rows = []
        for i, (text, voice) in enumerate((t, v) for v in voices for t in TEXTS):
            sf.write(speech / split / f"{i:05d}.wav", say(text, *voice), 16000, subtype="PCM_16")
            rows.append(json.dumps({"audio": f"{i:05d}.wav", "text": text}))
        (speech / split / "manifest.jsonl").write_text("\n".join(rows) + "\n")
    write_ranks(word_ranks(), speech / "words.tiktoken")
    return root


def config(root, run_dir, *overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose(
            "train",
            [
                "experiment=spoken_digits",
                f"data_root={root}",
                f"run_dir={run_dir}",
                "model.backbone.d_model=32",
                "model.backbone.n_layers=2",
                "data.batch_size=8",
                "trainer.max_epochs=90",  # passes for every seed tried (60 passed for some only)
                "trainer.check_val_every_n_epoch=90",
                "optim.lr=1e-2",
                "optim.weight_decay=0.0",
                "scheduler.warmup_steps=5",
                "~callbacks.progress",
                "+trainer.enable_progress_bar=false",
                "+trainer.enable_model_summary=false",
                "~loggers.tensorboard",
                *overrides,
            ],
        )


@pytest.mark.parametrize("task", ["transcribe_hybrid", "transcribe_ctc"])
def test_spoken_digits_experiment_learns_and_the_checkpoint_transcribes(data_root, tmp_path, task):
    results = train(config(data_root, tmp_path, f"task={task}"))
    # val says the training sequences at another speed and loudness; untrained, every word is wrong
    assert results["transcribe/val_wer"] < 0.35 and results["transcribe/val_cer"] < 0.2
    assert 0 <= results["transcribe/test_wer"] <= 1 and "transcribe/test_cer" in results

    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    path = f"{data_root}/speech/spoken_digits/test/00000.wav"
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cli = compose("infer", [f"ckpt={ckpt}", f"inputs=[{path}]"])  # audio alone transcribes
    [record] = run(cli)
    assert record["inputs"] == [path] and record["mode"] == "transcribe"
    model = load_model(ckpt)
    chars = model.head("ctc").vocab.chars
    trained = ARTranscription() if task == "transcribe_hybrid" else CTCTranscription(vocab=chars)
    clip = [[model.tokenizer("audio").prepare(path)]]
    assert record["result"] == trained.predict(model, clip, Options())[0]


def test_transcribe_refuses_a_checkpoint_of_another_task(data_root, tmp_path, checkpoint):
    task = {"_target_": "multimodal.tasks.classification.Classification", "num_classes": 3}
    ckpt = checkpoint(tmp_path / "some.ckpt", {"task": task}, modalities=("image", "audio"))
    clip = f"{data_root}/speech/spoken_digits/test/00000.wav"
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        cfg = compose("infer", [f"ckpt={ckpt}", f"inputs=[{clip}]", "mode=transcribe"])
    with pytest.raises(InputError, match=f"model file {ckpt} has no transcription task"):
        run(cfg)
