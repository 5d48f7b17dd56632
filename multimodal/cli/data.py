"""`mm-data`: write the demo and test data sets into a data folder, from installed packages.

    mm-data prepare [--out DIR] [--only text,images,speech,words] [--force]

Each part is idempotent (a second run verifies what is there and skips it) and checks what it
wrote. Parts are imported only when asked for, so one part's optional packages are not needed
by the others.
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mm-data", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="write data sets under --out")
    prep.add_argument("--out", type=Path, default=Path("data"), help="output folder (data)")
    prep.add_argument("--only", help="comma list of parts: " + ",".join(PARTS))
    prep.add_argument("--force", action="store_true", help="rewrite even what verifies")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    with one_line_errors():
        for part in parts(args.only):
            print(f"[{part}]", flush=True)
            print(prepare_part(part, args.out, args.force), flush=True)


if __name__ == "__main__":
    main()
