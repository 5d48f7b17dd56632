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
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
