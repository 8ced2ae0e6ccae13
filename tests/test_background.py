"""mnist_demo.background: a generator run on its own low-priority thread, read from the caller's."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from mnist_demo.background import in_background, thread_niceness


def test_items_arrive_in_order_and_the_last_is_never_dropped() -> None:
    stop = threading.Event()
    got = list(in_background(lambda: iter(range(5)), stop, latest_only=False))
    assert got == [0, 1, 2, 3, 4]
    got = list(in_background(lambda: iter(range(1000)), stop))  # a backlog collapses, the end survives
    assert got[-1] == 999 and got == sorted(got) and not stop.is_set()


def test_a_backlog_collapses_to_the_newest_snapshot() -> None:
    stop = threading.Event()
    release = threading.Event()

    def producer() -> Iterator[int]:
        yield 0
        release.wait(5)
        yield from (1, 2, 3)  # all queued before the reader asks again
        time.sleep(0.2)
        yield 4

    gen = in_background(producer, stop)
    assert next(gen) == 0
    release.set()
    time.sleep(0.1)
    assert next(gen) == 3, "the reader should skip the stale 1 and 2"
    assert list(gen) == [4]


def test_the_producers_exception_is_raised_in_the_reader() -> None:
    def producer() -> Iterator[int]:
        yield 1
        raise ValueError("epochs must be positive")

    gen = in_background(producer, threading.Event(), latest_only=False)
    assert next(gen) == 1
    with pytest.raises(ValueError, match="epochs must be positive"):
        next(gen)


def test_closing_early_stops_the_run_and_waits_for_its_thread() -> None:
    stop = threading.Event()
    finished = threading.Event()

    def producer() -> Iterator[int]:
        try:
            i = 0
            while not stop.is_set():  # a training loop watching its Stop flag
                yield i
                i += 1
                time.sleep(0.01)
        finally:
            finished.set()

    gen = in_background(producer, stop)
    next(gen)
    gen.close()  # the visitor left
    assert stop.is_set() and finished.is_set()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature")
def test_the_run_has_a_lower_priority_than_its_reader() -> None:
    def producer() -> Iterator[int]:
        yield thread_niceness()

    mine = thread_niceness()
    (theirs,) = in_background(producer, threading.Event(), nice=5)
    assert theirs == min(19, mine + 5)
    assert thread_niceness() == mine, "the reader's own priority must not change"
