"""Run every `bench/bench_*.py`, write `bench/results/latest.json` and print a table.

    python bench/run.py [--only text_tokenizer,...] [--out bench/results/latest.json]

Each script is loaded by its file path and exposes `run() -> list[dict]` (records made by
`common.record`). A script whose peer library is not installed (the optional `bench` extra) is
skipped with a note; a script that fails is reported and makes the exit status 1.
"""

import argparse
import importlib.util
import json
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(only: str | None, folder: Path = HERE) -> list[Path]:
    """The benchmark scripts in `folder`, filtered by a comma list of names (with or without
    the "bench_" prefix)."""
    found = sorted(folder.glob("bench_*.py"))
    if only is None:
        return found
    wanted = {n.strip().removeprefix("bench_").removesuffix(".py") for n in only.split(",")}
    chosen = [p for p in found if p.stem.removeprefix("bench_") in wanted]
    missing = wanted - {p.stem.removeprefix("bench_") for p in chosen}
    if missing:
        known = [p.stem.removeprefix("bench_") for p in found]
        raise SystemExit(f"error: no benchmark named {sorted(missing)}; have {known}")
    return chosen


def load(path: Path):
    """Import a benchmark script by its path."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # scripts import `common` from beside them
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_all(paths: list[Path]) -> tuple[list[dict], list[str]]:
    """All records of `paths`, and the names of scripts that failed."""
    records, failed = [], []
    for path in paths:
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        try:
            records += load(path).run()
        except ModuleNotFoundError as e:
            print(f"  skipped: {e} (pip install -e '.[bench]')", file=sys.stderr)
        except Exception:
            traceback.print_exc()
            failed.append(path.name)
    return records, failed


def fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def table(records: list[dict]) -> str:
    """Records as an aligned text table."""
    head = ("name", "ours", "peer", "peer_name", "unit", "ratio")
    rows = [
        (r["name"], fmt(r["ours"]), fmt(r["peer"]), r["peer_name"], r["unit"], f"{r['ratio']:.3f}")
        for r in records
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + ["(ratio > 1: ours is better)"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma list of benchmark names, e.g. text_tokenizer")
    p.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = p.parse_args(argv)
    records, failed = run_all(scripts(args.only))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    print(table(records))
    print(f"wrote {len(records)} records to {args.out}")
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
