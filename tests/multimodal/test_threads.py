"""Compute threads: as many as the cores that other processes leave free."""

import pytest
import torch

from multimodal import threads
from multimodal.errors import InputError


def test_free_cores_subtracts_what_others_use(monkeypatch):
    readings = iter([(1000, 4000), (1000 + 300, 4000 + 400)])  # 3/4 of all CPU time was busy
    monkeypatch.setattr(threads, "cpu_times", lambda: next(readings))
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    assert threads.free_cores() == 1  # 3 of 4 cores busy


def test_free_cores_is_at_least_one_and_at_most_usable(monkeypatch):
    for busy, expected in ((400, 1), (0, 2)):
        readings = iter([(0, 0), (busy, 400)])
        monkeypatch.setattr(threads, "cpu_times", lambda r=readings: next(r))
        monkeypatch.setattr(threads, "usable_cores", lambda: 2)
        monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
        monkeypatch.setattr(threads.time, "sleep", lambda s: None)
        assert threads.free_cores() == expected


def test_use_threads_sets_torch(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert threads.use_threads(1) == 1 == torch.get_num_threads()
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert threads.use_threads("auto") == 2  # the user's setting wins
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert 1 <= threads.use_threads("auto") <= threads.usable_cores()
        assert threads.use_threads(None) == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "many", True])
def test_bad_thread_counts_are_named(bad):
    with pytest.raises(InputError, match="config key threads must be a positive int or 'auto'"):
        threads.use_threads(bad)
