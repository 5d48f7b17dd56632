"""mm-infer: the mode picked from the inputs, text and JSON-lines output equal to the Python
API, named inputs from the command line, and errors as one line with exit status 2."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_module
from PIL import Image

import multimodal
from multimodal.cli.infer import run
from multimodal.errors import InputError

from ..conftest import plain_model_config, save_checkpoint


def save(checkpoint, path, tokenizer: str, head: str):
    """A checkpoint of a text + `tokenizer` model with an LM head and `head`."""
    return checkpoint(
        path,
        head_std=1.0,
        modalities=(tokenizer,),
        heads=("lm", head),
        context=96,
        n_layers=1,
        labels=("zero", "one"),
        ctc_vocab="ab",
        max_seconds=1.0,
    )


@pytest.fixture
def files(tmp_path, checkpoint):
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (8, 12), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    t = np.arange(4000) / 16000
    sf.write(tmp_path / "clip.wav", (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000)
    return {
        "vision": save(checkpoint, tmp_path / "vision.ckpt", "image", "classifier"),
        "speech": save(checkpoint, tmp_path / "speech.ckpt", "audio", "ctc"),
        "png": [str(tmp_path / "0.png"), str(tmp_path / "1.png")],
        "wav": str(tmp_path / "clip.wav"),
    }


def infer(*overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return run(compose("infer", list(overrides)))


def test_the_mode_follows_the_inputs_and_results_equal_the_python_api(files, capsys):
    vision, speech = multimodal.load(files["vision"]), multimodal.load(files["speech"])
    pngs = files["png"]
    records = infer(f"ckpt={files['vision']}", f"inputs=[{pngs[0]},{pngs[1]}]", "labels=2")
    tops = vision.classify(pngs, 2)
    assert [r["mode"] for r in records] == ["classify"] * 2
    assert [r["inputs"] for r in records] == [[pngs[0]], [pngs[1]]]
    assert [[(x["label"], x["probability"]) for x in r["result"]] for r in records] == tops
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{pngs[0]}: " + ", ".join(f"{label} {p:.3f}" for label, p in tops[0])

    infer(f"ckpt={files['speech']}", f"inputs={files['wav']}", "output=json")  # one input, no list
    (record,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert record == {
        "inputs": [files["wav"]],
        "mode": "transcribe",
        "result": speech.transcribe(files["wav"], head="ctc"),
    }


def test_generate_reads_all_inputs_as_one_prompt(files, capsys):
    vision = multimodal.load(files["vision"])
    png = files["png"][0]
    args = [f"ckpt={files['vision']}", "mode=generate", "max_new_tokens=6", "output=json"]
    infer(*args, f"inputs=[{png},'The digit is']", "temperature=0")
    (record,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    expected = vision.generate([png, "The digit is"], 6, temperature=0.0)
    assert record == {"inputs": [png, "The digit is"], "mode": "generate", "result": expected}
    # a named input: the file name as words, and a seeded sample
    (named,) = infer(*args, "inputs=[{text:'0.png'}]", "seed=5", "top_k=20")
    assert named["result"] == vision.generate({"text": "0.png"}, 6, top_k=20, seed=5)


def test_bad_settings_and_inputs_are_named(files):
    ckpt = f"ckpt={files['vision']}"
    with pytest.raises(InputError, match="config key inputs is not set"):
        infer(ckpt)
    with pytest.raises(InputError, match="config key mode is 'caption'"):
        infer(ckpt, "inputs=[a]", "mode=caption")
    with pytest.raises(InputError, match="config key output is 'xml'"):
        infer(ckpt, "inputs=[a]", "output=xml")
    with pytest.raises(InputError, match=f"model file {files['speech']} has no classifier head"):
        infer(f"ckpt={files['speech']}", f"inputs=[{files['wav']}]", "mode=classify")
    with pytest.raises(InputError, match=r"input 0 \(.*clip.wav\) needs the 'audio' tokenizer"):
        infer(ckpt, f"inputs=[{files['wav']}]")
    with pytest.raises(InputError, match="has no 'digits' head"):  # head_name reaches the model
        infer(ckpt, f"inputs=[{files['png'][0]}]", "head_name=digits")


def test_the_command_prints_one_error_line_and_exits_2(files, tmp_path):
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    cmd = [sys.executable, "-m", "multimodal.cli.infer", f"ckpt={files['vision']}", "inputs=[]"]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: config key inputs is an empty list; expected at least one input"
    ]
    assert list(cwd.iterdir()) == []  # no log or .hydra folder left behind


def demo_checkpoint(path, encoding):
    """A checkpoint laid out as experiment=multitask_demo trains one: text, image and audio;
    heads lm, ctc, digit and same; five stored tasks, the transcription one as older files
    name it."""
    model = plain_model_config(encoding, ("image", "audio"), ("lm", "ctc", "classifier"))
    model["tokenizers"]["image"]["patch_size"] = 7
    digit = model["heads"].pop("classifier")
    model["heads"]["digit"] = {**digit, "labels": [str(d) for d in range(10)]}
    model["heads"]["same"] = {**digit, "labels": ["different", "same"]}
    task = "multimodal.tasks.language_modeling.LanguageModeling"
    tasks = {
        "lm": {"_target_": task, "head": "lm"},
        "digit": {"_target_": CLASSIFICATION, "head": "digit", "num_classes": 10},
        "caption": {"_target_": task, "head": "lm", "mask": "prefix"},
        "transcribe": {
            "_target_": "multimodal.tasks.transcription.Transcription",
            "head": "ar",
            "vocab": " abc",
            "ctc_weight": 1.0,
        },
        "same": {"_target_": CLASSIFICATION, "head": "same", "num_classes": 2},
    }
    config = {"model": model, "task": None, "tasks": {k: {"task": t} for k, t in tasks.items()}}
    return save_checkpoint(path, config, head_std=1.0)


CLASSIFICATION = "multimodal.tasks.classification.Classification"


@pytest.fixture
def demo(tmp_path, byte_encoding):
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)).save(
        tmp_path / "seven.png"
    )
    t = np.arange(3200) / 16000
    sf.write(tmp_path / "eight.wav", (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32), 16000)
    ckpt = demo_checkpoint(tmp_path / "demo.ckpt", byte_encoding)
    return ckpt, str(tmp_path / "seven.png"), str(tmp_path / "eight.wav")


def test_on_a_multitask_checkpoint_the_inputs_pick_the_task(demo, capsys):
    ckpt, png, wav = demo
    model = multimodal.load(ckpt)
    [record] = infer(f"ckpt={ckpt}", f"inputs=[{png},'The digit is']", "temperature=0")
    expected = model.generate([png, "The digit is"], temperature=0.0)
    assert record == {"inputs": [png, "The digit is"], "mode": "generate", "result": expected}
    assert capsys.readouterr().out == expected + "\n"  # the text alone
    [record] = infer(f"ckpt={ckpt}", f"inputs=[{png}]", "labels=3")  # the first classifier
    top = model.classify(png, 3, head="digit")
    assert record["mode"] == "classify" and record["result"] == [
        {"label": label, "probability": p} for label, p in top
    ]
    [record] = infer(f"ckpt={ckpt}", f"inputs=[{wav}]")  # the stored task, as trained: the LM head
    assert record["mode"] == "transcribe" and record["result"] == model.transcribe(wav)
    assert model.transcribe(wav) == model.transcribe(wav, head="lm") != ""
    assert [model.mode(x) for x in (png, wav, "Hi", [png, "Hi"])] == [
        "classify",
        "transcribe",
        "generate",
        "generate",
    ]
    with pytest.raises(InputError, match=r"no task of model file .* reads image \+ audio by"):
        infer(f"ckpt={ckpt}", f"inputs=[[{png},{wav}]]")
    with pytest.raises(
        InputError, match=r"input 0 \(.*seven.png\) holds image; transcription takes audio"
    ):
        infer(f"ckpt={ckpt}", f"inputs=[{png}]", "mode=transcribe")
    with pytest.raises(InputError, match=r"has no classifier head reading head 'lm'; its tasks"):
        infer(f"ckpt={ckpt}", f"inputs=[{png}]", "mode=classify", "head_name=lm")


def test_the_makefile_demo_lines_run(demo, capsys):
    """`make demo`'s mm-infer lines, on a checkpoint of the same heads and tasks."""
    ckpt, seven, eight = demo
    model = multimodal.load(ckpt)
    args = ["mode=generate", "inputs=['ROMEO.']", "max_new_tokens=40", "temperature=0.8"]
    [lm] = infer(f"ckpt={ckpt}", *args, "top_k=50", "seed=0")
    assert lm["result"] == model.generate("ROMEO.", 40, 0.8, top_k=50, seed=0)
    [digit] = infer(
        f"ckpt={ckpt}", "mode=classify", "head_name=digit", "labels=3", f"inputs=[{seven}]"
    )
    assert len(digit["result"]) == 3
    args = ["temperature=0", "max_new_tokens=4", f"inputs=[{seven},'The digit is']"]
    [caption] = infer(f"ckpt={ckpt}", "mode=generate", *args)
    assert caption == infer(f"ckpt={ckpt}", *args)[0]  # the mode follows from the inputs
    heard = infer(f"ckpt={ckpt}", "mode=transcribe", f"inputs=[{eight},{eight}]")
    assert [r["result"] for r in heard] == model.transcribe([eight, eight])
    pairs = f"inputs=[[{seven},{eight}],[{seven},{eight}]]"
    same = infer(f"ckpt={ckpt}", "mode=classify", "head_name=same", "labels=1", pairs)
    assert [r["inputs"] for r in same] == [[[seven, eight]]] * 2
    assert same[0]["result"][0]["label"] in ("same", "different")
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(f"{seven} + {eight}: ") and lines[-3].startswith(f"{eight}: ")
