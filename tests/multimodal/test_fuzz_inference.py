"""Fuzzing inference: whatever `multimodal.load(...).generate / classify / transcribe` are given
(inputs of any kind, mixed lists, damaged files, any option values), the answer is a result or
one `InputError`, never another exception.

FUZZ_EXAMPLES sets the cases per test (default 200; `make fuzz` runs 10,000)."""

import os

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as nps
from PIL import Image

import multimodal
from multimodal.errors import InputError

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.binary()
)
ARRAYS = nps.arrays(
    st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int16, np.bool_]),
    nps.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40),
)
RATES = st.one_of(st.integers(-5, 500_000), st.sampled_from([8000, 16000, 44100]), SCALARS)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Good and damaged files of each kind, and a path that does not exist."""
    root = tmp_path_factory.mktemp("inputs")
    Image.fromarray(np.arange(144, dtype=np.uint8).reshape(12, 12)).save(root / "digit.png")
    t = np.arange(4800) / 16000
    sf.write(root / "clip.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    (root / "cut.png").write_bytes((root / "digit.png").read_bytes()[:40])
    (root / "cut.wav").write_bytes((root / "clip.wav").read_bytes()[:60])
    (root / "noise.wav").write_bytes(os.urandom(300))
    (root / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    named = {p.name: str(p) for p in root.iterdir()}
    return {**named, "missing": str(root / "missing.png"), "folder": str(root)}


def inputs(files: dict[str, str]):
    """One raw input: a file (good or damaged), text, an array, an (array, rate) pair, a
    {modality: value} dict, or any other object."""
    one = st.one_of(
        st.sampled_from(sorted(files.values())),
        st.text(max_size=30),
        ARRAYS,
        st.tuples(ARRAYS, RATES),
        st.dictionaries(st.sampled_from(["text", "image", "audio", "video"]), SCALARS, max_size=2),
        SCALARS,
    )
    return st.one_of(
        one, st.lists(one, max_size=4), st.lists(st.lists(one, max_size=3), max_size=2)
    )


OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "max_new_tokens": st.one_of(st.integers(-2, 6), SCALARS),
        "temperature": st.one_of(st.floats(-1, 3), SCALARS),
        "top_k": st.one_of(st.integers(-2, 300), SCALARS),
        "top_p": st.one_of(st.floats(-0.5, 1.5), SCALARS),
        "seed": st.one_of(st.integers(-1, 2**70), SCALARS),
    },
)


@pytest.fixture
def predictor(tmp_path, checkpoint):
    """Text, image and audio in; LM, classifier and CTC heads out; trained for transcription."""
    task = {"_target_": "multimodal.tasks.transcribe_ctc.CTCTranscription", "vocab": " abc"}
    path = checkpoint(
        tmp_path / "all.ckpt",
        {"task": task},
        modalities=("image", "audio"),
        heads=("lm", "classifier", "ctc"),
        max_seconds=1.0,
    )
    return multimodal.load(path)


def call(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except InputError:
        pass


@FUZZ
@given(data=st.data())
def test_generate_classify_transcribe_give_a_result_or_one_input_error(predictor, files, data):
    raw = data.draw(inputs(files))
    options = data.draw(OPTIONS)
    mode = data.draw(st.sampled_from(["generate", "classify", "transcribe"]))
    if mode == "generate":
        call(predictor.generate, raw, **options)
    elif mode == "classify":
        call(predictor.classify, raw, top_k=options.get("top_k", 5))
    else:
        call(predictor.transcribe, raw, **{k: v for k, v in options.items() if k != "top_p"})
