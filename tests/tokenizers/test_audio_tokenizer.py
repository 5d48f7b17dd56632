"""AudioTokenizer: files and arrays in, mono 16 kHz, batches padded with a mask, bad input named."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from multimodal.batch import collate
from multimodal.errors import InputError
from multimodal.segment import Segment
from multimodal.tokenizers.audio import AudioTokenizer, sinusoids

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "three_one_four.wav"


def tone(seconds=0.5, rate=16000, freq=440.0, amp=0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def tok():
    torch.manual_seed(0)
    return AudioTokenizer(d_model=16, max_seconds=2.0)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
def test_reads_each_container_like_the_samples_it_holds(tok, tmp_path, fmt):
    wave = tone(0.7, freq=523.0)
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, wave, 16000, format=fmt)
    seg = tok.prepare(path)
    assert seg.modality == "audio" and seg.data.shape == (80, 70)
    assert seg.meta["source"] == str(path) and seg.meta["seconds"] == pytest.approx(0.7)
    reference = tok.prepare((wave, 16000)).data
    error = (seg.data - reference).abs()
    if fmt == "OGG":  # lossy: the spectrum agrees where the tone is
        assert error.mean() < 0.1
    else:  # 16-bit PCM rounding only
        assert error.max() < 0.05


def test_stereo_is_mixed_to_mono_on_the_shorter_axis(tok, tmp_path):
    left, right = tone(freq=300.0), tone(freq=900.0)
    mono = tok.prepare(((left + right) / 2, 16000)).data
    channels_first = tok.prepare((np.stack([left, right]), 16000)).data
    channels_last = tok.prepare((np.stack([left, right], axis=1), 16000)).data
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    from_file = tok.prepare(tmp_path / "stereo.wav").data
    for other in (channels_first, channels_last, from_file):
        assert torch.allclose(other, mono, atol=1e-5)


def test_other_rates_are_resampled_to_16k(tok):
    at_16k = tok.prepare((tone(1.0, 16000, 1000.0), 16000)).data
    for rate in (8000, 22050, 44100):
        resampled = tok.prepare((tone(1.0, rate, 1000.0), rate)).data
        assert resampled.shape == at_16k.shape
        inner = slice(5, -5)  # away from the resampler's edges
        assert torch.equal(resampled[:, inner].argmax(0), at_16k[:, inner].argmax(0))
        assert (resampled[:, inner] - at_16k[:, inner]).abs().mean() < 0.02


def test_integer_pcm_is_scaled(tok):
    wave = tone()
    pcm = np.round(wave * 32767).astype(np.int16)
    scaled = (pcm / 32768.0).astype(np.float32)
    assert torch.equal(tok.prepare((pcm, 16000)).data, tok.prepare((scaled, 16000)).data)
    assert (tok.prepare((pcm, 16000)).data - tok.prepare((wave, 16000)).data).abs().mean() < 1e-3


def test_padded_batch_gives_each_clip_what_it_gives_alone(tok):
    clips = [
        tok.prepare((tone(s, freq=f), 16000)) for s, f in [(0.33, 300), (1.01, 700), (0.5, 90)]
    ]
    assert [tok.num_tokens(c) for c in clips] == [17, 51, 25]  # ceil(frames / 2)
    together = tok(tok.collate(clips))  # (S, L, D)
    assert together.shape == (3, 51, 16)
    for i, clip in enumerate(clips):
        alone = tok(tok.collate([clip]))[0]
        assert torch.allclose(together[i, : len(alone)], alone, atol=1e-5)


def test_vectors_carry_positions_and_the_modality_embedding(tok):
    clip = tok.prepare((np.zeros(1600, np.float32) + 1e-3, 16000))
    collated = tok.collate([clip])
    base = tok.stem(collated["mel"], collated["frames"])
    with torch.no_grad():
        tok.modality_embedding.fill_(0.5)
        out = tok(collated)
        tok.modality_embedding.zero_()
    assert torch.allclose(out - base, sinusoids(out.shape[1], 16) + 0.5, atol=1e-6)
    assert sinusoids(3, 4)[0].tolist() == [0.0, 0.0, 1.0, 1.0]  # sin then cos at position 0


def test_clips_sit_in_a_mixed_sequence_behind_a_mask(tok):
    from multimodal.tokenizers.text import TextTokenizer
    from multimodal.tokenizers.vocab import load_encoding

    text = TextTokenizer(16, encoding=load_encoding("gpt2"))
    samples = [
        [tok.prepare((tone(0.2), 16000)), text.prepare("hi")],
        [tok.prepare((tone(0.6), 16000))],
    ]
    batch = collate(samples, {"audio": tok, "text": text})
    assert batch.shape == (2, 32)  # each clip between <|begin_audio|> and <|end_audio|>
    assert batch.padding.sum(1).tolist() == [32 - 10 - 2 - 1, 0]
    assert (batch.slots["audio"] >= 0).sum(1).tolist() == [10, 30]


def test_gradients_reach_the_stem(tok):
    out = tok(tok.collate([tok.prepare((tone(), 16000))]))
    out.square().mean().backward()
    assert tok.stem.conv1.weight.grad.abs().sum() > 0
    tok.zero_grad()


def write_bad(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.wav"
    if kind == "empty":
        sf.write(path, np.zeros(0, np.float32), 16000)
    elif kind == "truncated":
        sf.write(path, tone(1.0), 16000, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:9000])
    elif kind == "truncated_flac":
        path = tmp_path / "truncated.flac"
        sf.write(path, np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32), 16000)
        path.write_bytes(path.read_bytes()[:20000])
    elif kind == "not_audio":
        path.write_text("this is not a sound file\n")
    elif kind == "nan":
        wave = tone()
        wave[100] = np.nan
        sf.write(path, wave, 16000, subtype="FLOAT")
    elif kind == "too_long":
        sf.write(path, tone(2.5), 16000)
    elif kind == "too_short":
        sf.write(path, tone(0.01), 16000)
    return path


@pytest.mark.parametrize(
    "kind, match",
    [
        ("empty", "has no samples"),
        ("truncated", "is truncated"),
        ("truncated_flac", "is truncated or corrupt"),
        ("not_audio", "is not a readable WAV, FLAC or OGG file"),
        ("nan", "contains NaN or infinite samples"),
        ("too_long", r"is 2.50 s long; the audio tokenizer takes at most 2 s \(max_seconds\)"),
        ("too_short", "is 10.0 ms long; expected at least 25 ms"),
        ("missing", "does not exist"),
    ],
)
def test_bad_files_raise_one_sentence_naming_the_file(tok, tmp_path, kind, match):
    path = write_bad(tmp_path, kind) if kind != "missing" else tmp_path / "missing.wav"
    with pytest.raises(InputError, match=match) as info:
        tok.prepare(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "raw, match",
    [
        ((np.array([0.1, np.nan, 0.2] * 200, np.float32), 16000), "array contains NaN"),
        ((np.full(1000, np.inf, np.float32), 16000), "array contains NaN or infinite"),
        ((np.zeros(0, np.float32), 16000), "array has no samples"),
        ((tone(), 0), "sample rate 0"),
        ((tone(), 16000.5), "sample rate 16000.5"),
        ((np.array(["a", "b"]), 16000), "dtype <U1"),
        ((np.zeros((2, 2, 800)), 16000), r"shape \(2, 2, 800\)"),
        (12345, "type int is not supported"),
    ],
)
def test_bad_arrays_are_named(tok, raw, match):
    with pytest.raises(InputError, match=match):
        tok.prepare(raw)


def test_foreign_segments_are_refused_in_collate(tok):
    with pytest.raises(InputError, match=r"has shape \(40, 9\); expected \(80, frames\)"):
        tok.collate([Segment("audio", torch.zeros(40, 9))])


def test_config_errors():
    with pytest.raises(InputError, match="d_model must be even"):
        AudioTokenizer(15)
    with pytest.raises(InputError, match="max_seconds must be positive"):
        AudioTokenizer(16, max_seconds=0)


def test_fixture_clip_becomes_fifty_tokens_a_second(tok):
    seg = tok.prepare(FIXTURE)
    assert tok.num_tokens(seg) == 50 and tok(tok.collate([seg])).shape == (1, 50, 16)


def test_awkward_rates_give_the_features_of_16k(tok):
    """8001 and 16001 Hz once cost gigabytes to resample; now they cost what 8000 Hz does."""
    at_16k = tok.prepare((tone(1.0, 16000, 1000.0), 16000)).data
    for rate in (1001, 8001, 16001, 44101, 383999):
        resampled = tok.prepare((tone(1.0, rate, 300.0 if rate < 2000 else 1000.0), rate)).data
        assert resampled.shape == at_16k.shape
    for rate in (8001, 16001, 44101, 383999):
        resampled = tok.prepare((tone(1.0, rate, 1000.0), rate)).data
        inner = slice(5, -5)
        assert torch.equal(resampled[:, inner].argmax(0), at_16k[:, inner].argmax(0))
        assert (resampled[:, inner] - at_16k[:, inner]).abs().mean() < 0.02


def test_length_is_checked_before_resampling_at_the_tokenizer_limit(tok, tmp_path):
    sf.write(tmp_path / "long.wav", tone(2.5, 1000), 1000)
    with pytest.raises(InputError, match=r"long.wav is 2.50 s long; .* at most 2 s"):
        tok.prepare(tmp_path / "long.wav")
    wave = tok.prepare((tone(2.0, 44101), 44101)).data  # exactly at the limit: accepted
    assert tok.num_tokens(Segment("audio", wave)) <= tok.max_tokens


TENSOR = torch.from_numpy(tone())


@pytest.mark.parametrize(
    "raw, match",
    [
        (None, "type NoneType is not supported"),
        (b"clip.wav", "type bytes is not supported"),
        ({"audio": tone()}, "type dict is not supported"),
        ((tone(),), "type tuple is not supported"),
        ((tone(), 16000, 1), "type tuple is not supported"),
        ((tone(), 16000.0), "sample rate 16000.0; expected a whole number of Hz"),
        ((tone(), np.float64(16000)), "sample rate np.float64"),
        ((tone(), "16000"), "sample rate '16000'"),
        ((tone(), True), "sample rate True"),
        ((tone(), None), "sample rate None"),
        ((tone(), float("nan")), "sample rate nan"),
        ((tone(), torch.tensor(16000)), r"sample rate tensor\(16000\)"),
        ((tone(), -16000), "sample rate -16000 Hz; expected 1000 to 384000 Hz"),
        ((tone(), 10**100), "expected 1000 to 384000 Hz"),
        ((tone() > 0, 16000), "dtype bool; expected integer PCM or float samples"),
        ((tone().astype(np.complex64), 16000), "dtype complex64"),
        ((tone().astype(object), 16000), "dtype object"),
        ((np.zeros(8000, "m8[s]"), 16000), "dtype timedelta64"),
        ((np.zeros(8000, "f4,f4"), 16000), r"dtype \[\('f0'"),
        (([None] * 8000, 16000), "dtype object"),
        ((["a"] * 8000, 16000), "dtype <U1"),
        (([[0.1, 0.2], [0.3]], 16000), "type list is not an array of numbers"),
        (([torch.zeros(800, requires_grad=True)] * 2, 16000), "not an array of numbers"),
        ((np.float32(0.5), 16000), "is a scalar"),
        (((x for x in range(8000)), 16000), "is a scalar"),
        ((tone().reshape(2, 2, -1), 16000), r"shape \(2, 2, 2000\)"),
        ((np.zeros((2, 0), np.float32), 16000), "has no samples"),
        ((np.zeros((0, 0), np.float32), 16000), "has no samples"),
        ((np.zeros((9, 8000), np.float32), 16000), "has 9 channels; expected at most 8"),
        ((np.broadcast_to(np.float32(0), (10**12,)), 16000), "is 62500000.00 s long"),
        (([0.0] * 10**6, 16000), "is 62.50 s long"),
        ((tone() * 1e20, 16000), "reaches amplitude 3e\\+19"),
        ((tone().astype(np.float64) * 1e300, 16000), "reaches amplitude 3e\\+299"),
        ((tone()[:20], 1000), "is 20.0 ms long; expected at least 25 ms"),
        ((TENSOR.to(torch.complex64), 16000), "dtype complex64"),
        ((TENSOR > 0, 16000), "dtype bool"),
        ((TENSOR.to_sparse(), 16000), "is a nested or sparse tensor"),
        ((torch.nested.nested_tensor([TENSOR[:800], TENSOR]), 16000), "nested or sparse"),
        ((torch.empty(8000, device="meta"), 16000), "torch.float32 tensor numpy cannot read"),
        ((torch.quantize_per_tensor(TENSOR, 0.1, 0, torch.qint8), 16000), "torch.qint8 tensor"),
        ((torch.zeros(1).expand(10**12), 16000), "is 62500000.00 s long"),
        ("x" * 5000, "cannot be looked up"),
        ("", "does not exist"),
    ],
)
def test_anything_a_user_passes_raises_one_input_error(tok, raw, match):
    with pytest.raises(InputError, match=match) as info:
        tok.prepare(raw)
    assert "\n" not in str(info.value)


PCM64 = np.round(tone().astype(np.float64) * 2**63).astype(np.int64)
PCM32 = np.round(tone().astype(np.float64) * 2**31).astype(np.int32)


@pytest.mark.parametrize(
    "data, samples",
    [
        (tone().astype(np.float16), tone().astype(np.float16)),
        (tone().astype(np.longdouble), tone()),
        (tone().astype(">f4"), tone()),
        (tone()[::-1], tone()[::-1].copy()),
        (PCM64, PCM64 / 2.0**63),
        (PCM32[:, None], PCM32 / 2.0**31),
        (TENSOR.bfloat16(), TENSOR.bfloat16().float()),
        (TENSOR.to(torch.float8_e4m3fn), TENSOR.to(torch.float8_e4m3fn).float()),
        (TENSOR.clone().requires_grad_(), tone()),
        ((TENSOR * 2**15).round().to(torch.int16), (TENSOR * 2**15).round() / 2**15),
        (tone().tolist(), tone()),
    ],
    ids=lambda d: f"{type(d).__name__}-{getattr(d, 'dtype', '')}",
)
def test_every_numeric_array_kind_is_read_as_its_values(tok, data, samples):
    reference = tok.prepare((np.asarray(samples, np.float32), 16000)).data
    assert torch.allclose(tok.prepare((data, 16000)).data, reference, atol=1e-4)
