"""CPU threads on a machine that other processes may be using too.

Two things make torch slow on a busy machine: more compute threads than free cores (the threads
wait for each other at every parallel region while one of them is off its core), and OpenMP's
spinning wait (a waiting thread keeps its core busy for about 300,000 spins, taking it from the
others). `import multimodal` shortens the spin to 10,000 (`GOMP_SPINCOUNT`) unless torch was
imported first or `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` is set: long enough for the many small
parallel regions of a training step (no spin at all, `OMP_WAIT_POLICY=PASSIVE`, made the
multi-task demo 20% slower alone), short enough to give a busy core back. `threads: auto`
handles the first.
"""

import os
import time
from pathlib import Path

import torch

from multimodal.errors import InputError


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def usable_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def free_cores(seconds: float = 0.25) -> int:
    """Cores not busy with other work over the next `seconds` (at least 1)."""
    cores = usable_cores()
    try:
        busy0, total0 = cpu_times()
    except (OSError, ValueError, IndexError):
        return cores  # no /proc/stat: assume the machine is ours
    time.sleep(seconds)
    busy1, total1 = cpu_times()
    busy = (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or cores)
    return max(1, min(cores, round(cores - busy)))


def use_threads(threads: int | str | None) -> int:
    """Set torch's compute threads: a number, "auto" (OMP_NUM_THREADS where it is set, else the
    free cores), or None (torch's default). Returns the number in use."""
    if threads == "auto":
        given = os.environ.get("OMP_NUM_THREADS", "")
        torch.set_num_threads(int(given) if given.isdigit() and int(given) > 0 else free_cores())
    elif threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InputError(
                f"config key threads must be a positive int or 'auto', got {threads!r}"
            )
        torch.set_num_threads(threads)
    return torch.get_num_threads()
