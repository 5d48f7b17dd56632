"""SameClassPairsDataModule: images paired with one-word clips, half of them the same class."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from multimodal.data.pairs import SameClassPairsDataModule
from multimodal.errors import InputError
from multimodal.tokenizers.audio_preprocessor import AudioPreprocessor
from multimodal.tokenizers.image_preprocessor import ImagePreprocessor

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def pairs_module(root, **kwargs) -> SameClassPairsDataModule:
    speech = root / "speech" / "spoken_digits"
    settings = dict(
        images={"root": root / "images" / "mnist5k", "classes": [str(d) for d in range(10)]},
        speech={s: speech / s / "manifest.jsonl" for s in ("train", "val", "test")},
        words=WORDS,
        pairs_per_clip=4,
    )
    return SameClassPairsDataModule(
        **{**settings, **kwargs},
        preprocessors={
            "image": ImagePreprocessor(patch_size=7, channels=1),
            "audio": AudioPreprocessor(max_seconds=1.0),
        },
        collate_fn=list,
    )


def test_each_clip_meets_its_own_class_and_others_half_the_time(demo_root):
    dm = pairs_module(demo_root)
    dm.setup()
    train = dm.splits["train"]
    assert len(train) == 40 * 4  # 40 one-word clips, 4 images each
    for path, clip, _, same in train.pairs:
        digit = int(path.parent.name)
        assert (WORDS[digit] == clip.text) == bool(same)
    assert sum(same for *_, same in train.pairs) == len(train) // 2
    ex = train[0]
    assert [s.modality for s in ex.segments] == ["image", "audio"] and ex.target in (0, 1)
    again = pairs_module(demo_root)
    again.setup()
    assert again.splits["train"].pairs == train.pairs  # seeded


def test_clips_of_several_words_are_left_to_transcription(demo_root):
    manifest = demo_root / "speech" / "spoken_digits" / "val" / "manifest.jsonl"
    manifest.write_text(manifest.read_text().replace('"one"', '"one two"'))
    dm = pairs_module(demo_root)
    dm.setup()
    assert all(clip.text != "one two" for _, clip, _, _ in dm.splits["val"].pairs)
    assert len(dm.splits["val"]) == 9 * 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"words": ["zero"]}, "data.words has 1 words for 10 image classes"),
        ({"words": [f"w{d}" for d in range(10)]}, "has no one-word clips"),
        ({"pairs_per_clip": 1}, "pairs_per_clip must be at least 2"),
    ],
)
def test_bad_settings_are_named(demo_root, kwargs, match):
    with pytest.raises(InputError, match=match):
        pairs_module(demo_root, **kwargs).setup()


def test_training_pairs_draw_a_fresh_image_of_the_right_kind_each_time(demo_root):
    dm = pairs_module(demo_root)
    dm.setup()
    train = dm.splits["train"]
    for i in (0, 1):  # pair 0 shows the clip's own digit, pair 1 another digit
        _, clip, _, same = train.pairs[i]
        seen = {train[i].meta["path"].split(" + ")[0] for _ in range(20)}
        assert len(seen) > 1
        for path in seen:
            assert (WORDS[int(Path(path).parent.name)] == clip.text) == bool(same)
    val = dm.splits["val"]
    assert len({val[0].meta["path"] for _ in range(5)}) == 1  # held-out pairs stay fixed


def test_clip_paths_that_leave_the_manifest_folder_are_refused_unless_allowed(demo_root):
    manifest = demo_root / "speech" / "spoken_digits" / "val" / "manifest.jsonl"
    manifest.write_text(manifest.read_text().replace('"1_0.wav"', '"../train/1_0.wav"'))
    with pytest.raises(InputError, match=r"line 2 names audio '\.\./train/1_0\.wav' outside"):
        pairs_module(demo_root).setup()
    skipping = pairs_module(demo_root, on_bad_sample="skip")
    skipping.setup()
    assert len(skipping.splits["val"]) == 9 * 4 and len(skipping.bad_samples.skipped) == 1
    allowed = pairs_module(demo_root, allow_outside_paths=True)
    allowed.setup()
    assert len(allowed.splits["val"]) == 10 * 4


def test_a_broken_clip_is_skipped_in_every_pair_it_is_loaded_in(demo_root):
    clip = demo_root / "speech" / "spoken_digits" / "val" / "2_0.wav"
    clip.write_bytes(clip.read_bytes()[:100])
    dm = pairs_module(demo_root, on_bad_sample="skip", batch_size=8)
    dm.collate_fn = lambda examples: SimpleNamespace(skipped=[], examples=examples)
    dm.setup()
    batches = list(dm.val_dataloader())
    assert sum(len(b.examples) for b in batches) == 9 * 4
    skipped = [reason for b in batches for reason in b.skipped]
    assert len(skipped) == 4 and all(f"{clip} is truncated" in r for r in skipped)
