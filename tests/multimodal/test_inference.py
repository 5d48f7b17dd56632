"""`multimodal.load` and `Predictor`: generate, classify and transcribe agree with the lower-level
functions they stand for, and every bad input is refused with a sentence naming it."""

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

import multimodal
from multimodal.errors import InputError
from multimodal.generation import generate
from multimodal.inference import Predictor
from multimodal.options import Options
from multimodal.segment import Segment
from multimodal.tasks.classification import Classification
from multimodal.tasks.transcribe_ar import ARTranscription, decode_ar
from multimodal.tasks.transcribe_ctc import CTCTranscription

LABELS = ["cat", "dog", "owl"]


@pytest.fixture
def vision_ckpt(tmp_path, checkpoint):
    return checkpoint(tmp_path / "vision.ckpt", labels=LABELS)


@pytest.fixture
def speech_ckpt(tmp_path, checkpoint):
    task = {"_target_": "multimodal.tasks.transcription.Transcription", "head": "ar"}
    return checkpoint(
        tmp_path / "speech.ckpt", {"task": task}, modalities=("audio",), heads=("lm", "ctc")
    )


def digit(seed=0, size=12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def clip(tmp_path, name="clip.wav", seconds=0.3) -> str:
    t = np.arange(int(16000 * seconds)) / 16000
    path = tmp_path / name
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    return str(path)


def test_load_returns_a_predictor_of_the_checkpoint(vision_ckpt):
    model = multimodal.load(vision_ckpt)
    assert isinstance(model, Predictor) and not model.model.training
    assert set(model.model.tokenizers) == {"text", "image"}
    assert model.mode(digit()) == "classify"


@pytest.mark.parametrize("temperature, seed", [(0.0, None), (1.0, 7)])
def test_generate_on_an_image_and_text_equals_generate_on_the_laid_out_prompt(
    vision_ckpt, tmp_path, temperature, seed
):
    model = multimodal.load(vision_ckpt)
    png = tmp_path / "digit.png"
    Image.fromarray(digit()).save(png)
    out = model.generate([str(png), "The digit is"], 12, temperature, seed=seed, stop_at_eot=False)

    text, image = model.model.tokenizer("text"), model.model.tokenizer("image")
    img = image.prepare(str(png))  # 3 x 3 patches
    prompt = [
        Segment("text", torch.tensor([text.special("<|begin_image|>")])),
        img,
        Segment("text", torch.tensor([text.special("<|end_image|>")])),
        text.prepare("The digit is"),
    ]
    ids = generate(
        model.model, [prompt], 12, temperature, seed=seed, mask="prefix", prefix_lens=[9 + 2]
    )[0]
    assert len(ids) == 12 and out == text.decode(ids)
    # the same pixels as a PIL image, an array or a named input give the same continuation
    same = model.generate(
        [{"image": digit()}, "The digit is"], 12, temperature, seed=seed, stop_at_eot=False
    )
    assert same == out


def test_generate_on_text_alone_is_causal(vision_ckpt):
    model = multimodal.load(vision_ckpt)
    text = model.model.tokenizer("text")
    ids = generate(model.model, [[text.prepare("To be")]], 8, 0.0)[0]
    assert model.generate("To be", 8, temperature=0.0, stop_at_eot=False) == text.decode(ids)


def test_a_transcription_checkpoint_generates_from_a_clip_as_it_transcribes(speech_ckpt, tmp_path):
    model = multimodal.load(speech_ckpt)
    wav = clip(tmp_path)
    segment = model.model.tokenizer("audio").prepare(wav)
    expected = decode_ar(model.model, [segment], 10)[0]
    assert model.generate([wav], 10, temperature=0.0).strip() == expected
    assert model.transcribe(wav, max_new_tokens=10) == expected  # the LM head, as trained
    assert model.mode(wav) == "transcribe"


def test_transcribe_takes_files_and_arrays_with_either_head(speech_ckpt, tmp_path):
    model = multimodal.load(speech_ckpt)
    wavs = [clip(tmp_path, "a.wav", 0.3), clip(tmp_path, "b.wav", 0.5)]
    wave, rate = sf.read(wavs[0], dtype="float32")
    clips = [[model.model.tokenizer("audio").prepare(w)] for w in wavs]
    for task in (ARTranscription(head="lm"), CTCTranscription(head="ctc", vocab=" abc")):
        expected = task.predict(model.model, clips, Options(max_new_tokens=6))
        head = task.head
        assert model.transcribe(wavs, head=head, max_new_tokens=6) == expected
        assert model.transcribe((wave, rate), head=head, max_new_tokens=6) == expected[0]


def test_classify_gives_the_top_labels_of_the_classifier(vision_ckpt, tmp_path):
    model = multimodal.load(vision_ckpt)
    png = tmp_path / "digit.png"
    Image.fromarray(digit(1)).save(png)
    images = [str(png), digit(2, 16), Image.fromarray(digit(3))]
    tops = model.classify(images, top_k=2)
    samples = [[model.model.tokenizer("image").prepare(x)] for x in images]
    assert tops == Classification(num_classes=3).predict(model.model, samples, Options(labels=2))
    for top in tops:
        assert len(top) == 2 and {label for label, _ in top} <= set(LABELS)
        assert top[0][1] >= top[1][1] and sum(p for _, p in top) <= 1.0 + 1e-6
    everything = model.classify(str(png), top_k=10)  # one input: one result; top_k capped at K
    assert len(everything) == 3 and sum(p for _, p in everything) == pytest.approx(1.0)


def test_bad_inputs_are_refused_with_a_sentence_naming_them(vision_ckpt, speech_ckpt, tmp_path):
    vision, speech = multimodal.load(vision_ckpt), multimodal.load(speech_ckpt)
    wav = clip(tmp_path)
    with pytest.raises(InputError, match=r"input 0 \(.*clip.wav\) needs the 'audio' tokenizer"):
        vision.generate([wav, "Say"])
    with pytest.raises(InputError, match=f"model file {speech_ckpt} has no classifier head"):
        speech.classify(wav)
    with pytest.raises(InputError, match=f"model file {vision_ckpt} has no 'ar' head"):
        vision.generate("Hi", head="ar")
    with pytest.raises(InputError, match="inputs is an empty list"):
        vision.generate([])
    with pytest.raises(InputError, match="inputs is an empty list"):
        speech.transcribe([])
    with pytest.raises(InputError, match="input 1: text input is empty"):
        vision.generate([digit(), ""])
    big = np.zeros((48, 48), np.uint8)  # 144 patches + 2 markers + 2 text tokens > 128
    with pytest.raises(InputError, match=r"the inputs are 148 tokens long \(input 0: 144 image"):
        vision.generate([big, "Hi"])
    liar = tmp_path / "photo.png"
    liar.write_bytes(open(wav, "rb").read())
    with pytest.raises(InputError, match="photo.png is named like an image file but holds audio"):
        vision.classify([str(liar)])
    with pytest.raises(InputError, match="input 1 holds text; head 'classifier' classifies image"):
        vision.classify([digit(), "a cat"])
    with pytest.raises(InputError, match="input 0 holds text; transcription takes audio"):
        speech.transcribe({"text": "clip.wav"})
    with pytest.raises(InputError, match="input 0: image input has shape"):
        vision.classify({"image": np.zeros((5, 8, 8), np.uint8)})


def test_the_tasks_are_the_stored_ones_then_each_heads_own(speech_ckpt, vision_ckpt, tmp_path):
    speech, vision = multimodal.load(speech_ckpt), multimodal.load(vision_ckpt)
    assert [(type(t).__name__, t.name, t.head) for t in speech.tasks] == [
        ("ARTranscription", "task", "lm"),  # as the file stores it: head "ar" is the LM head
        ("LanguageModeling", "lm", "lm"),
        ("CTCTranscription", "ctc", "ctc"),
    ]
    assert [(t.mode, t.head) for t in vision.tasks] == [
        ("generate", "lm"),
        ("classify", "classifier"),
    ]
    assert vision.mode([digit()]) == "classify" and vision.mode([digit(), "It is"]) == "generate"
    with pytest.raises(InputError, match="input 0 parts is an empty list"):
        vision.classify([[]])
    with pytest.raises(InputError, match=r"no task of model file .* reads text / image by itself"):
        vision.mode(["a cat", digit()])


def test_a_stored_task_that_cannot_be_built_names_the_file_and_key(checkpoint, tmp_path):
    tasks = {"x": {"task": {"_target_": "user.Task"}}}
    path = checkpoint(tmp_path / "m.ckpt", {"tasks": tasks})
    with pytest.raises(InputError, match=rf"^model file {path}: config key tasks.x.task names "):
        multimodal.load(path)
    task = {"_target_": "multimodal.tasks.classification.Classification", "label_smoothing": 2}
    path = checkpoint(tmp_path / "n.ckpt", {"task": task})
    with pytest.raises(
        InputError, match="config key task could not be built: task.label_smoothing"
    ):
        multimodal.load(path)
