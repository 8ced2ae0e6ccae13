"""Keep a long-running server's memory flat on glibc: fewer malloc arenas, freed heap handed back to the OS."""

from __future__ import annotations

import ctypes
import os
import sys
import threading


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (e.g. musl)
        return None


def limit_arenas(n: int = 2) -> bool:
    """At most n malloc arenas (as MALLOC_ARENA_MAX=n) unless the environment sets it; True when applied.

    glibc gives threads their own arenas and keeps what they free there: with gradio's worker threads the soak
    benchmark grew by ~240 MB a minute; two arenas kept it flat.
    """
    libc = _libc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(-8, n))  # -8 = M_ARENA_MAX


def trim() -> bool:
    """Return the free memory at the top and in the holes of the heap to the OS (glibc malloc_trim(0))."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def trim_every(seconds: float) -> threading.Event | None:
    """Call trim() every `seconds` on a daemon thread; set the returned event to stop it (None: not glibc).

    Why: a training run or a t-SNE map allocates a few hundred MB and frees it again, but glibc keeps freed
    pages mapped, so a server that has done a few of each looks 150 MB bigger for good. A trim takes ~1 ms.
    """
    if _libc() is None:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            trim()

    threading.Thread(target=loop, name="malloc-trim", daemon=True).start()
    return stop
