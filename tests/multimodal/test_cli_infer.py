"""mm-infer: the mode picked from the model's heads, text and JSON-lines output equal to the
Python API, named inputs from the command line, and errors as one line with exit status 2."""

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


def test_the_mode_follows_the_heads_and_results_equal_the_python_api(files, capsys):
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
