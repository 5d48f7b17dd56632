"""How every console script reports bad input: one sentence on stderr, exit status 2."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from multimodal.errors import InputError


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Inside it, an `InputError` ends the program with its sentence and status 2."""
    try:
        yield
    except InputError as e:  # from a DataLoader worker it comes as a traceback ending in it
        sentence = str(e).strip().splitlines()[-1].split("InputError: ", 1)[-1]
        print(f"error: {sentence}", file=sys.stderr)
        sys.exit(2)
