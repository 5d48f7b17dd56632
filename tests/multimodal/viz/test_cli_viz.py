"""mm-viz as users run it: the pictures and the page in the output folder, and every bad
choice as one line on stderr with exit status 2."""

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from multimodal.cli.viz import run
from multimodal.errors import InputError

MM_VIZ = Path(sys.executable).parent / "mm-viz"


def mm_viz(*args, cwd):
    return subprocess.run([MM_VIZ, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_writes_every_picture_and_the_page(model_file, photo, clip, tmp_path):
    out = tmp_path / "viz"
    done = mm_viz(
        f"ckpt={model_file}",
        f"inputs=[{photo},{clip},'a cat']",
        f"out={out}",
        "query=c",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    expected = ["index.html", "tokens.png"]
    for i in range(2):
        expected += [f"attention/layer{i}_heads.png", f"query/layer{i}_mean.png"]
        expected += [
            f"{kind}/layer{i}_head{h}.png" for kind in ("attention", "query") for h in range(4)
        ]
    assert names == sorted(expected)
    # 17 image tokens (3 x 5 patches, 2 markers) and 17 audio tokens (0.3 s) come before 'a cat'
    assert done.stdout.splitlines() == [
        f"21 pictures in {out}; the page: {out / 'index.html'}",
        f"where token 36 ('c') looks, last layer: {out / 'query/layer1_mean.png'}",
    ]
    assert all(
        (out / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names if n.endswith(".png")
    )


def test_one_layer_and_head(model_file, photo, tmp_path):
    out = tmp_path / "viz"
    paths = run(
        compose_viz(
            f"ckpt={model_file}",
            f"inputs=[{photo},'a cat']",
            f"out={out}",
            "layer=1",
            "attention_head=3",
        )
    )
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(out)) for p in paths)
    assert names == [
        "attention/layer1_head3.png",
        "index.html",
        "query/layer1_head3.png",
        "tokens.png",
    ]


def compose_viz(*overrides):
    with initialize_config_module("multimodal.conf", version_base="1.3"):
        return compose("viz", overrides=list(overrides))


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["layer=5"], "layer 5 is out of range; there are 2 layers (0 to 1)"),
        (["attention_head=-9"], "head -9 is out of range; there are 4 heads (0 to 3)"),
        (["query=dog"], "query 'dog' is no text piece of the input; its pieces: "),
        (["query=400"], "query token 400 is out of range; there are"),
        (["mask=sideways"], "mask is 'sideways'; expected one of"),
        (["inputs=[]"], "config key inputs is an empty list"),
    ],
)
def test_bad_choices_are_refused_before_writing(model_file, photo, tmp_path, args, sentence):
    out = tmp_path / "viz"
    cfg = compose_viz(f"ckpt={model_file}", f"inputs=[{photo},'a cat']", f"out={out}", *args)
    with pytest.raises(InputError) as refused:
        run(cfg)
    assert str(refused.value).startswith(sentence)
    assert not out.exists()


def test_a_bad_choice_is_one_line(model_file, photo, tmp_path):
    out = tmp_path / "viz"
    done = mm_viz(
        f"ckpt={model_file}", f"inputs=[{photo},'a cat']", f"out={out}", "layer=5", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == "error: layer 5 is out of range; there are 2 layers (0 to 1)\n"


def test_an_output_folder_that_cannot_be_written_is_one_sentence(model_file, photo, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    for out in (blocked, blocked / "viz"):
        cfg = compose_viz(f"ckpt={model_file}", f"inputs=[{photo},'a cat']", f"out={out}")
        with pytest.raises(InputError, match=f"^output folder {out} cannot be made: "):
            run(cfg)


def test_missing_keys_are_named(model_file):
    with pytest.raises(InputError, match="^config key out is not set, e.g. mm-viz ckpt="):
        run(compose_viz(f"ckpt={model_file}", "inputs=[hello]"))
