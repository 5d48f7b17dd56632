"""SpeechDataModule: manifests and LibriSpeech trees in, bad clips named or skipped and counted."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from multimodal.data.resumable import SeededBatches
from multimodal.data.speech import SpeechDataModule
from multimodal.errors import InputError
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor

CHARS = " 'abcdefghijklmnopqrstuvwxyz"


def tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_manifest(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def module(splits, policy="raise", **kwargs) -> SpeechDataModule:
    preprocessors = {"audio": AudioPreprocessor(max_seconds=1.0)}
    return SpeechDataModule(
        splits={k: str(v) for k, v in splits.items()},
        preprocessors=preprocessors,
        collate_fn=list,
        batch_size=2,
        on_bad_sample=policy,
        **kwargs,
    )


@pytest.fixture
def good(tmp_path) -> Path:
    folder = tmp_path / "train"
    (folder / "clips").mkdir(parents=True)
    rows = []
    for i, (seconds, text) in enumerate([(0.3, "one"), (0.6, "two  three"), (0.2, "four")]):
        sf.write(folder / "clips" / f"{i}.wav", tone(seconds, 200 + 100 * i), 16000)
        rows.append({"audio": f"clips/{i}.wav", "text": text})
    return write_manifest(folder, rows)


def test_manifest_paths_are_relative_to_it_and_examples_carry_audio_and_text(good):
    data = module({"train": good}, group_by_length=False)
    data.setup()
    ds = data.splits["train"]
    assert len(ds) == 3
    ex = ds[1]
    assert ex.segments[0].modality == "audio" and ex.segments[0].data.shape == (80, 60)
    assert ex.target == "two three"  # whitespace normalized
    assert ex.meta["source"] == str(good.parent / "clips" / "1.wav")
    assert ex.meta["where"] == f"manifest {good} line 2"


def test_val_is_sorted_by_length_and_train_batches_group_similar_lengths(good):
    data = module({"train": good, "val": good})
    data.setup()
    assert [c.text for c in data.splits["val"].clips] == ["four", "one", "two three"]
    batches = list(data.train_dataloader())
    assert sorted(len(b) for b in batches) == [1, 2]


def test_length_grouped_batches_cover_every_clip_once_and_are_seeded():
    lengths = torch.rand(1000, generator=torch.Generator().manual_seed(0)).tolist()

    def batches(epoch: int) -> list[list[int]]:
        sampler = SeededBatches(1000, 16, shuffle=True, seed=1, lengths=lengths, pool=10)
        sampler.set_epoch(epoch)
        return [[i for i, _ in batch] for batch in sampler]

    epoch1, epoch2 = batches(0), batches(1)
    assert len(epoch1) == 63
    assert sorted(i for b in epoch1 for i in b) == list(range(1000))
    assert epoch1 != epoch2  # a new order every epoch
    assert batches(0) == epoch1
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in epoch1])
    assert spread < 0.15  # sorted pools of 160: about 0.1; random batches of 16: about 0.88


def test_librispeech_tree_is_read_with_lowercased_transcripts(tmp_path):
    chapter = tmp_path / "dev-clean" / "84" / "121123"
    chapter.mkdir(parents=True)
    lines = []
    for i, text in enumerate(["GO DO YOU HEAR", "BUT IN LESS THAN FIVE MINUTES"]):
        key = f"84-121123-{i:04d}"
        sf.write(chapter / f"{key}.flac", tone(0.4 + 0.1 * i), 16000)
        lines.append(f"{key} {text}")
    (chapter / "84-121123.trans.txt").write_text("\n".join(lines) + "\n")
    data = module({"val": tmp_path / "dev-clean"}, lowercase=True, charset=CHARS)
    data.setup()
    ds = data.splits["val"]
    assert [ds[i].target for i in range(2)] == ["go do you hear", "but in less than five minutes"]
    assert ds[0].meta["source"].endswith("84-121123-0000.flac")


def bad_rows(folder: Path) -> list:
    """One good clip and one of each kind of bad sample."""
    (folder / "c").mkdir(parents=True)
    sf.write(folder / "c" / "good.wav", tone(0.3), 16000)
    sf.write(folder / "c" / "empty.wav", np.zeros(0, np.float32), 16000)
    sf.write(folder / "c" / "long.wav", tone(1.5), 16000)
    nan = tone(0.3)
    nan[5] = np.nan
    sf.write(folder / "c" / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(folder / "c" / "cut.wav", tone(0.5), 16000, subtype="PCM_16")
    (folder / "c" / "cut.wav").write_bytes((folder / "c" / "cut.wav").read_bytes()[:4000])
    (folder / "c" / "text.wav").write_text("not audio")
    return [
        {"audio": "c/good.wav", "text": "fine"},
        {"audio": "c/empty.wav", "text": "empty"},
        {"audio": "c/long.wav", "text": "long"},
        {"audio": "c/nan.wav", "text": "nan"},
        {"audio": "c/cut.wav", "text": "cut"},
        {"audio": "c/text.wav", "text": "text"},
        {"audio": "c/missing.wav", "text": "missing"},
        {"audio": "c/good.wav", "text": "Digits 42!"},
        {"audio": "c/good.wav", "text": "   "},
        {"audio": "c/good.wav"},
        "{not json",
    ]


def test_skip_policy_leaves_out_and_counts_every_kind_of_bad_sample(tmp_path):
    manifest = write_manifest(tmp_path, bad_rows(tmp_path))
    data = module({"train": manifest}, policy="skip", charset=CHARS)
    data.setup()
    assert [c.text for c in data.splits["train"].clips] == ["fine"]
    skipped = data.bad_samples.skipped
    assert len(skipped) == 10
    report = data.bad_samples.report()
    assert report.startswith("skipped 10 bad sample(s):")
    for expected in [
        "empty.wav has no samples",
        "long.wav is 1.50 s long",
        "nan.wav contains NaN",
        "cut.wav is truncated",
        "text.wav is not a readable WAV, FLAC or OGG file",
        "missing.wav does not exist",
        "line 8 has transcript characters ['D', '4', '2', '!'] outside the CTC vocabulary",
        "line 9 has an empty transcript",
        'line 10 has no "text" string',
        "line 11 is not a JSON object",
    ]:
        assert any(expected in reason for reason in skipped), expected


@pytest.mark.parametrize(
    "row, match",
    [
        ({"audio": "c/good.wav", "text": "Digits 42!"}, "outside the CTC vocabulary"),
        ({"audio": "c/good.wav", "text": ""}, "line 1 has an empty transcript"),
        ({"text": "x"}, 'line 1 has no "audio" path'),
    ],
)
def test_raise_policy_stops_at_a_bad_transcript_when_reading(tmp_path, row, match):
    bad_rows(tmp_path)
    data = module({"train": write_manifest(tmp_path, [row])}, charset=CHARS)
    with pytest.raises(InputError, match=match):
        data.setup()


@pytest.mark.parametrize(
    "name, match",
    [
        ("empty", "has no samples"),
        ("long", "is 1.50 s long"),
        ("nan", "contains NaN"),
        ("cut", "is truncated"),
        ("text", "is not a readable"),
        ("missing", "does not exist"),
    ],
)
def test_raise_policy_names_a_bad_clip_when_it_is_loaded(tmp_path, name, match):
    bad_rows(tmp_path)
    data = module({"train": write_manifest(tmp_path, [{"audio": f"c/{name}.wav", "text": "x"}])})
    data.setup()
    with pytest.raises(InputError, match=match) as info:
        data.splits["train"][0]
    assert f"{name}.wav" in str(info.value)


def test_missing_split_and_empty_tree_are_named(tmp_path):
    with pytest.raises(InputError, match="speech split .*nope.jsonl does not exist"):
        module({"train": tmp_path / "nope.jsonl"}).setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no \\*.trans.txt transcripts"):
        module({"train": tmp_path / "empty"}).setup()
    with pytest.raises(InputError, match="data.splits is empty"):
        module({})


def test_clip_paths_that_leave_the_manifest_folder_are_refused_unless_allowed(good, tmp_path):
    outside = tmp_path / "elsewhere.wav"
    sf.write(outside, tone(0.3), 16000)
    rows = [{"audio": "clips/0.wav", "text": "in"}, {"audio": "../elsewhere.wav", "text": "up"}]
    rows += [
        {"audio": str(outside), "text": "absolute"},
        {"audio": "clips/../clips/1.wav", "text": "ok"},
    ]
    manifest = write_manifest(good.parent, rows)
    with pytest.raises(InputError, match=r"line 2 names audio '\.\./elsewhere\.wav' outside the"):
        module({"train": manifest}).setup()

    data = module({"train": manifest}, policy="skip", group_by_length=False)
    data.setup()
    assert [c.text for c in data.splits["train"].clips] == ["in", "ok"]
    assert [r.split(" names audio ")[1].split(" outside")[0] for r in data.bad_samples.skipped] == [
        "'../elsewhere.wav'",
        repr(str(outside)),
    ]

    allowed = module({"train": manifest}, allow_outside_paths=True, group_by_length=False)
    allowed.setup()
    assert [c.audio for c in allowed.splits["train"].clips][1:3] == [
        good.parent / "../elsewhere.wav",
        outside,
    ]


def test_librispeech_ids_that_leave_their_folder_are_refused(tmp_path):
    chapter = tmp_path / "dev" / "1" / "2"
    chapter.mkdir(parents=True)
    sf.write(chapter / "1-2-0000.flac", tone(0.3), 16000)
    (chapter / "1-2.trans.txt").write_text("1-2-0000 HELLO\n../../../x WORLD\n")
    with pytest.raises(InputError, match=r"1-2\.trans\.txt line 2 names audio '\.\./\.\./\.\./x"):
        module({"val": tmp_path / "dev"}).setup()


def test_verify_decodes_clips_at_setup_whatever_the_policy(tmp_path):
    rows = bad_rows(tmp_path)[:2]  # good.wav, then empty.wav
    manifest = write_manifest(tmp_path, rows)
    with pytest.raises(InputError, match=r"line 2: audio .*empty\.wav has no samples"):
        module({"train": manifest}, verify=True).setup()
    unverified = module({"train": manifest}, policy="skip", verify=False, group_by_length=False)
    unverified.setup()
    assert len(unverified.splits["train"]) == 2 and not unverified.bad_samples.skipped


def test_an_unverified_bad_clip_is_skipped_when_loaded_naming_its_line_and_file(tmp_path):
    manifest = write_manifest(tmp_path, bad_rows(tmp_path)[:2])
    data = module({"train": manifest}, policy="skip", verify=False)
    data.collate_fn = lambda examples: SimpleNamespace(skipped=[], examples=examples)
    data.setup()
    (batch,) = list(data.train_dataloader())
    assert [ex.target for ex in batch.examples] == ["fine"]
    assert batch.skipped == [
        f"manifest {manifest} line 2: audio {tmp_path / 'c' / 'empty.wav'} has no samples; "
        "expected a non-empty clip"
    ]
