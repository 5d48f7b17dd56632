"""`mm-bpe`: train a byte-level BPE vocabulary and write it as a tiktoken rank file.

mm-bpe train data/text/shakespeare/*.txt --vocab-size 8192 -o shakespeare-8192.tiktoken
"""

import argparse
import time

from multimodal.cli.errors import one_line_errors
from multimodal.tokenizers.bpe_trainer import train_files
from multimodal.tokenizers.vocab import write_ranks


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mm-bpe", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="learn merges from text files (or folders of *.txt)")
    train.add_argument("files", nargs="+", help="UTF-8 text files or folders")
    train.add_argument("--vocab-size", type=int, default=8192, help="tokens, at least 256")
    train.add_argument("-o", "--out", required=True, help="rank file to write (.tiktoken)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    start = time.perf_counter()
    with one_line_errors():
        ranks = train_files(args.files, args.vocab_size, progress=not args.quiet)
    write_ranks(ranks, args.out)
    print(f"wrote {len(ranks)} tokens to {args.out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
