"""Run a long generator (a training run) on its own low-priority thread and read its items from another.

Why: on a small shared server a visitor's training run and other visitors' predictions compete for the same
cores. Run in the request's own worker thread, a training loop gets an equal share of the CPU, and every
prediction waits behind it. On its own thread with a higher nice value (Linux schedules threads one by one),
the run takes the CPU nobody else wants: predictions stay quick, and the run still completes, just slower
while others are busy. Its updates are read here in the caller's thread; a backlog collapses to the newest.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

TRAIN_NICE = 10  # CFS weight 110 vs 1024: about a tenth of a core when a normal thread wants it


class BusyError(RuntimeError):
    """A visitor asked for a second run of something that runs one at a time for them (training, fine-tune, fit)."""


@dataclass(frozen=True)
class _End:
    """The producer is finished: normally (error None) or by raising `error`."""

    error: BaseException | None = None


def lower_priority(nice: int) -> bool:
    """Raise the calling thread's nice value by `nice` (Linux: per thread); False where that is not possible."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        return True
    except OSError:  # a sandbox may refuse it; the run still works, at normal priority
        return False


def thread_niceness() -> int:
    """The calling thread's nice value (0 where it cannot be read)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except (OSError, AttributeError):
        return 0


def in_background(make: Callable[[], Iterator[T]], stop: threading.Event, *, nice: int = TRAIN_NICE,
                  latest_only: bool = True, name: str = "background-run", join_s: float = 30.0) -> Iterator[T]:
    """Iterate make() on a new thread at `nice`, yielding its items here; re-raise its exception here.

    With latest_only, items that piled up while the reader was busy collapse to the newest (each item must
    then be a complete snapshot); the last item is always delivered. Closing this generator early (the
    visitor left) sets `stop`, which `make()` must watch, and waits up to join_s for the thread to end.
    Items must not be mutated by the producer after they are yielded (copy lists into each item).
    """
    q: queue.Queue = queue.Queue()

    def work() -> None:
        lower_priority(nice)
        try:
            for item in make():
                q.put(item)
        except BaseException as exc:  # handed to the reader, which raises it in the request
            q.put(_End(exc))
        else:
            q.put(_End())

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    finished = False
    try:
        while True:
            item = q.get()
            if latest_only and not isinstance(item, _End):
                while True:  # skip to the newest snapshot, but never past the end marker
                    try:
                        nxt = q.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(nxt, _End):
                        yield item
                        item = nxt
                        break
                    item = nxt
            if isinstance(item, _End):
                finished = True
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        if not finished:
            stop.set()
            thread.join(timeout=join_s)


def call_niced(fn: Callable[[], T], *, nice: int = TRAIN_NICE, name: str = "niced-call") -> T:
    """fn() on a new thread at a higher nice value, waited for here; its result returned, its exception raised.

    For CPU-heavy one-off work done for one visitor (a 10,000-point t-SNE map): others' predictions come first.
    """
    box: dict[str, object] = {}

    def work() -> None:
        lower_priority(nice)
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
