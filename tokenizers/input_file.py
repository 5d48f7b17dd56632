"""Checking an input file before anything reads it: it exists, it is a regular file, and its
size (from `stat`) is within a bound. Directories, devices such as /dev/zero and named pipes are
refused here, so no reader ever blocks on them or reads without end."""

import os
import stat

from multimodal.errors import InputError


def check_file(path: str | os.PathLike, name: str, max_bytes: int | None = None) -> int:
    """The size in bytes of the regular file `path`; `InputError` naming it (as `name`) if it
    is missing, unreadable, not a regular file, or larger than `max_bytes`."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{name} does not exist") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        reason = getattr(e, "strerror", None) or str(e)
        raise InputError(f"{name} cannot be read ({reason})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{name} is not a regular file (a directory or a device); expected a file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputError(
            f"{name} is {info.st_size} bytes, more than the {max_bytes} bytes allowed for it"
        )
    return info.st_size
