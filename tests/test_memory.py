"""mnist_demo.memory: glibc malloc tuning for the long-running server."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mnist_demo import memory

linux_glibc = pytest.mark.skipif(memory._libc() is None, reason="needs glibc (Linux)")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@linux_glibc
def test_trim_hands_freed_heap_back() -> None:
    # Many mid-sized blocks live in the heap (below the mmap threshold); free every other one so the
    # top cannot simply shrink, then trim: RSS must drop by most of what was freed.
    blocks = [np.ones(12_000, np.float64) for _ in range(4000)]  # 96 kB each (from 128 kB glibc would mmap)
    del blocks[::2]  # ~190 MB freed in holes between live blocks
    before = _rss_mb()
    assert memory.trim()
    assert _rss_mb() < before - 100, "malloc_trim returned nothing to the OS"


@linux_glibc
def test_trim_every_runs_until_stopped() -> None:
    import threading

    calls = threading.Semaphore(0)
    real = memory.trim
    memory.trim = lambda: calls.release() or True
    try:
        before = set(threading.enumerate())  # the app's own 30 s trim loop may run too: watch only ours
        stop = memory.trim_every(0.01)
        (ours,) = [t for t in threading.enumerate() if t not in before]
        assert all(calls.acquire(timeout=30) for _ in range(3)), "trim() was not called again and again"
        stop.set()
        ours.join(timeout=30)
        assert not ours.is_alive(), "the trim loop still runs after stop was set"
    finally:
        memory.trim = real


@pytest.mark.skipif(sys.platform.startswith("linux"), reason="off Linux these are no-ops")
def test_no_ops_elsewhere() -> None:
    assert memory.trim() is False and memory.trim_every(1) is None
