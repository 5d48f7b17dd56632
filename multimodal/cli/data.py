"""`mm-data`: write the demo and test data sets into a data folder, from installed packages,
and write any prepared set as litdata shards for streaming.

    mm-data prepare [--out DIR] [--only text,images,speech,words] [--force]
    mm-data optimize text   --root DIR --vocab VOCAB --block-size N [--stride N] --out OUT
    mm-data optimize text   --root DIR --documents --out OUT
    mm-data optimize images --root DIR [--classes a,b,...] --out OUT
    mm-data optimize speech --split train=MANIFEST --split val=MANIFEST --out OUT
    mm-data optimize pairs  --images DIR --speech train=MANIFEST ... --words w0,w1,... --out OUT

Each prepare part is idempotent (a second run verifies what is there and skips it) and checks
what it wrote. Parts are imported only when asked for, so one part's optional packages are not
needed by the others. `optimize` writes one litdata dataset per split under OUT (a folder, or
an object-store URL such as s3://bucket/prefix); it refuses a folder that is not empty unless
--force, and names each bad input it meets (--on-bad-sample skip leaves them out).
"""

import argparse
import importlib
from pathlib import Path

from multimodal.cli.errors import one_line_errors
from multimodal.errors import InputError

# part -> (module, function); each function takes (out: Path, force: bool) and returns a summary.
PARTS = {
    "text": ("multimodal.data.prepare_text", "prepare_text"),
    "images": ("multimodal.data.prepare_images", "prepare_images"),
    "speech": ("multimodal.data.prepare_speech", "prepare_speech"),
    "words": ("multimodal.data.prepare_speech", "prepare_words"),
}


def parts(only: str | None) -> list[str]:
    """The parts named in `--only` (comma-separated), in their usual order; all when None."""
    if only is None:
        return list(PARTS)
    asked = [p.strip() for p in only.split(",") if p.strip()]
    unknown = [p for p in asked if p not in PARTS]
    if unknown or not asked:
        raise InputError(
            f"--only {only!r} names unknown parts; expected a comma list of {list(PARTS)}"
        )
    return [p for p in PARTS if p in asked]


def prepare_part(part: str, out: Path, force: bool) -> str:
    module_name, function = PARTS[part]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise InputError(f"the {part!r} prepare step ({module_name}) is not installed") from e
        raise InputError(
            f"the {part!r} prepare step needs the package {e.name!r}; install this project "
            "with its 'data' extra (pip install -e '.[data]')"
        ) from e
    return getattr(module, function)(out, force=force)


def named_paths(pairs: list[str] | None, option: str) -> dict[str, str]:
    """["train=a.jsonl", ...] -> {"train": "a.jsonl", ...}."""
    found = {}
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise InputError(f"{option} {pair!r} is not NAME=PATH, e.g. {option} train=a.jsonl")
        found[name] = path
    if not found:
        raise InputError(f"{option} is missing; expected e.g. {option} train=manifest.jsonl")
    return found


def names(text: str | None) -> list[str] | None:
    """A comma list as names; None stays None."""
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def optimize(args: argparse.Namespace) -> str:
    """Write the asked-for set as shards; the summary."""
    from multimodal.data import optimize as sets
    from multimodal.data import optimize_text

    output = sets.Output(args.out, args.force, args.workers, args.chunk_bytes)
    policy = args.on_bad_sample
    if args.kind == "text" and args.documents:
        return optimize_text.optimize_documents(output, args.root, args.val_fraction, 0, policy)
    if args.kind == "text":
        if args.vocab is None or args.block_size is None:
            raise InputError("optimize text needs --vocab and --block-size (or --documents)")
        return optimize_text.optimize_text(
            output, args.root, args.vocab, args.block_size, args.stride, args.val_fraction, policy
        )
    if args.kind == "images":
        return sets.optimize_images(
            output,
            args.root,
            classes=names(args.classes),
            val_fraction=args.val_fraction,
            test_fraction=args.test_fraction,
            seed=args.seed,
            on_bad_sample=policy,
        )
    clips = {"max_seconds": args.max_seconds, "allow_outside_paths": args.allow_outside_paths}
    if args.kind == "speech":
        splits = named_paths(args.split, "--split")
        return sets.optimize_speech(
            output, splits, lowercase=args.lowercase, on_bad_sample=policy, **clips
        )
    return sets.optimize_pairs(
        output,
        images={"root": args.images, "classes": names(args.classes)},
        speech=named_paths(args.speech, "--speech"),
        words=names(args.words) or [],
        pairs_per_clip=args.pairs_per_clip,
        seed=args.seed,
        on_bad_sample=policy,
        **clips,
    )


def optimize_parser(sub) -> None:
    opt = sub.add_parser("optimize", help="write a prepared set as litdata shards")
    kinds = opt.add_subparsers(dest="kind", required=True)
    parsers = {
        "text": kinds.add_parser("text", help="a folder of .txt files: token windows or documents"),
        "images": kinds.add_parser("images", help="an image folder with class folders"),
        "speech": kinds.add_parser("speech", help="speech manifests or LibriSpeech-style folders"),
        "pairs": kinds.add_parser("pairs", help="images paired with spoken class words"),
    }
    for kind, p in parsers.items():
        p.add_argument("--out", required=True, help="output folder or object-store URL")
        p.add_argument("--force", action="store_true", help="replace shards already in --out")
        p.add_argument("--workers", type=int, default=1, help="writing processes (1)")
        p.add_argument("--chunk-bytes", default="64MB", help="size of a chunk file (64MB)")
        p.add_argument("--on-bad-sample", choices=["raise", "skip"], default="raise")
        if kind in ("text", "images"):
            p.add_argument("--root", required=True, type=Path, help="the prepared folder")
            p.add_argument("--val-fraction", type=float, default=0.1, help="held out (0.1)")
        if kind in ("images", "pairs"):
            p.add_argument("--classes", help="comma list of class folders, in index order")
            p.add_argument("--seed", type=int, default=0, help="seed of carving and pairing")
        if kind in ("speech", "pairs"):
            p.add_argument("--max-seconds", type=float, default=30.0, help="longest clip (30)")
            p.add_argument("--allow-outside-paths", action="store_true")
    text = parsers["text"]
    text.add_argument("--vocab", help="rank file or vocabulary name the windows are cut with")
    text.add_argument("--block-size", type=int, help="tokens per window")
    text.add_argument("--stride", type=int, help="tokens between window starts (block size)")
    text.add_argument("--documents", action="store_true", help="one sample per file instead")
    parsers["images"].add_argument("--test-fraction", type=float, default=0.0)
    speech = parsers["speech"]
    speech.add_argument("--split", action="append", help="NAME=PATH, once per split")
    speech.add_argument("--lowercase", action="store_true", help="lowercase transcripts")
    pairs = parsers["pairs"]
    pairs.add_argument("--images", required=True, type=Path, help="the image folder")
    pairs.add_argument("--speech", action="append", help="NAME=MANIFEST, once per split")
    pairs.add_argument("--words", required=True, help="comma list: each class's spoken word")
    pairs.add_argument("--pairs-per-clip", type=int, default=8)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mm-data", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="write data sets under --out")
    prep.add_argument("--out", type=Path, default=Path("data"), help="output folder (data)")
    prep.add_argument("--only", help="comma list of parts: " + ",".join(PARTS))
    prep.add_argument("--force", action="store_true", help="rewrite even what verifies")
    optimize_parser(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    with one_line_errors():
        if args.command == "optimize":
            print(optimize(args), flush=True)
            return
        for part in parts(args.only):
            print(f"[{part}]", flush=True)
            print(prepare_part(part, args.out, args.force), flush=True)


if __name__ == "__main__":
    main()
