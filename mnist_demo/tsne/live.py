"""Seed 000's live "Visualize last layer", off the training thread: warm-started t-SNE frames and a GIF.

The training loop hands over snapshots with `LiveTSNE.submit(features, labels, step, test_acc)`, which
only stores a reference and wakes a background thread; it never waits for t-SNE. Up to `backlog`
snapshots wait while the worker is busy (the child's start-up, ~2 s of imports, overlaps the first ones);
beyond that the oldest waiting one is dropped, so a slow worker shows the newest state, not a stale queue. Each frame
starts from the previous frame's map, so clusters keep their place and orientation between frames.

By default the frames are computed and rendered in a child Python process at lower CPU priority
(backend="process"): openTSNE's optimiser loop and matplotlib are Python code that holds the GIL, and in
a thread of the training process every GIL hand-over could delay the training loop's next operation by
up to the 5 ms switch interval. The background thread then only passes pickles over a pipe. If the child
cannot start or dies, the thread computes the frames itself (backend="thread" asks for that directly).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import REPO_ROOT
from ..fileio import write_gif as fileio_write_gif
from ..plots.tsne import figure_rgb, tsne_frame
from .algorithms import tsne_2d, warm_tsne_2d

FIRST_FRAME_SCHEDULE = (100, 150)  # a from-scratch first frame; later frames refine it anyway
BACKENDS = ("process", "thread")


@dataclass(frozen=True)
class Frame:
    """One computed map of the snapshot taken at `step`."""

    index: int  # 0, 1, 2, ... in the order frames were computed
    step: int
    test_acc: float | None
    embedding: np.ndarray  # (N, 2) float32
    labels: np.ndarray  # (N,)
    seconds: float  # t-SNE time of this frame (rendering excluded)
    warm: bool  # started from the previous frame
    image: np.ndarray | None = None  # (H, W, 3) uint8 rendering, when the worker renders


@dataclass(frozen=True)
class _Snapshot:
    features: np.ndarray
    labels: np.ndarray
    step: int
    test_acc: float | None


class LiveTSNE:
    """A background worker turning training snapshots into warm-started t-SNE frames (and rendered images)."""

    def __init__(self, perplexity: float = 30.0, seed: int = 0, render: bool = True, style: str = "seed",
                 warm_iters: tuple[int, int] = (30, 70), max_frames: int = 120, backend: str = "process",
                 nice: int = 10, backlog: int = 3) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
        self.perplexity = float(perplexity)
        self.max_frames = max(2, int(max_frames))  # a long run keeps every other old frame past this
        self.seed = int(seed)
        self.render = bool(render)
        self.style = style
        self.warm_iters = warm_iters
        self.dropped = 0  # snapshots dropped before the worker got to them
        self.backlog = max(1, int(backlog))
        self.error: BaseException | None = None  # the last failure inside the worker, if any
        self._frames: list[Frame] = []
        self._pending: deque[_Snapshot] = deque()
        self._busy = False
        self._closing = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._child: _Child | None = None
        if backend == "process":
            try:  # started now, so its imports overlap with the training run's own set-up
                self._child = _Child(nice)
            except OSError as exc:
                self.error = exc

    @property
    def backend(self) -> str:
        """Where frames are being computed now: 'process' or 'thread' (also after a fallback)."""
        return "process" if self._child is not None else "thread"

    # ---------- training side ----------
    def submit(self, features: np.ndarray, labels: np.ndarray, step: int, test_acc: float | None = None) -> None:
        """Hand over one snapshot (N, D) + labels (N,); returns at once. Do not modify the arrays afterwards."""
        feats = np.asarray(features, dtype=np.float32)
        labs = np.asarray(labels)
        if feats.ndim != 2 or feats.shape[0] != labs.shape[0]:
            raise ValueError(f"features must be (N, D) with N labels, got {feats.shape} and {labs.shape}")
        snap = _Snapshot(feats, labs, int(step), None if test_acc is None else float(test_acc))
        with self._cond:
            if self._closing:
                raise RuntimeError("this live t-SNE has been closed")
            if len(self._pending) >= self.backlog:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(snap)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="live-tsne", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    # ---------- UI side ----------
    def latest(self) -> Frame | None:
        """The newest finished frame (None before the first)."""
        with self._cond:
            return self._frames[-1] if self._frames else None

    def frames(self) -> list[Frame]:
        """The finished frames, oldest first (every one, up to max_frames; then thinned evenly)."""
        with self._cond:
            return list(self._frames)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted snapshot is either a frame or dropped; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, drain: bool = True, timeout: float | None = None) -> list[Frame]:
        """Stop the worker: finish the waiting snapshots first when `drain`, else drop them. Returns all frames."""
        with self._cond:
            if not drain and self._pending:
                self.dropped += len(self._pending)
                self._pending.clear()
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)  # a worker still busy after `timeout` ends its child itself when done
        elif self._child is not None:  # nothing was ever submitted
            self._child.close()
            self._child = None
        return self.frames()

    def __enter__(self) -> LiveTSNE:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(drain=exc[0] is None)

    # ---------- worker ----------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    if self._child is not None:  # closing: the child's job is done too
                        self._child.close()
                        self._child = None
                    return
                snap = self._pending.popleft()
                self._busy = True
                prev = self._frames[-1] if self._frames else None
            frame = None
            try:
                frame = self._compute(snap, prev)
            except Exception as exc:  # a failed frame must not end the live view; the next snapshot retries
                self.error = exc
            with self._cond:
                if frame is not None:
                    self._frames.append(frame)
                    if len(self._frames) > self.max_frames:
                        # Thin the history instead of growing without bound (~0.4 MB per rendered frame):
                        # the GIF of a 30-epoch run stays a watchable animation of ≤ max_frames frames.
                        self._frames = [*self._frames[:-1:2], self._frames[-1]]
                self._busy = False
                self._cond.notify_all()

    def _compute(self, snap: _Snapshot, prev: Frame | None) -> Frame:
        warm = prev is not None and prev.embedding.shape[0] == snap.features.shape[0]
        job = {"features": snap.features, "labels": snap.labels, "step": snap.step, "test_acc": snap.test_acc,
               "previous": prev.embedding if warm and prev is not None else None, "perplexity": self.perplexity,
               "seed": self.seed, "warm_iters": self.warm_iters, "render": self.render, "style": self.style}
        if self._child is not None:
            try:
                emb, seconds, image = self._child.call(job)
            except (OSError, EOFError, pickle.PickleError) as exc:  # the child died: carry on in this thread
                self.error = exc
                self._child.close()
                self._child = None
                emb, seconds, image = compute_frame(**job)
        else:
            emb, seconds, image = compute_frame(**job)
        index = 0 if prev is None else prev.index + 1
        return Frame(index, snap.step, snap.test_acc, emb, snap.labels, seconds, warm, image)


def compute_frame(features: np.ndarray, labels: np.ndarray, step: int, test_acc: float | None,
                  previous: np.ndarray | None, perplexity: float = 30.0, seed: int = 0,
                  warm_iters: tuple[int, int] = (30, 70), render: bool = True, style: str = "seed"
                  ) -> tuple[np.ndarray, float, np.ndarray | None]:
    """(map (N, 2), t-SNE seconds, rendered image or None) for one snapshot, warm-started from `previous`."""
    t0 = time.perf_counter()
    if previous is not None:
        emb = warm_tsne_2d(features, previous, perplexity, seed, n_jobs=1, ee_iter=warm_iters[0],
                           n_iter=warm_iters[1])
    else:
        emb = tsne_2d(features, perplexity, seed, n_jobs=1, schedule=FIRST_FRAME_SCHEDULE)
    seconds = time.perf_counter() - t0
    image = render_frame(emb, labels, step, test_acc, style) if render else None
    return emb, seconds, image


class _Child:
    """A child Python running compute_frame on pickled jobs from stdin, answering on stdout."""

    def __init__(self, nice: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")  # one core at most
        code = "import sys; from mnist_demo.tsne.live import _child_main; _child_main(int(sys.argv[1]))"
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(int(nice))], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, cwd=str(REPO_ROOT))

    def call(self, job: dict) -> tuple:
        """Send one job and wait for its answer (the waiting thread holds no GIL while blocked)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        pickle.dump(job, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.flush()
        status, payload = pickle.load(self.proc.stdout)
        if status != "ok":
            raise RuntimeError(payload)
        return payload

    def close(self) -> None:
        """End the child: EOF on its stdin, then a kill if it lingers."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _child_main(nice: int = 10) -> None:
    """The child's loop: one pickled job in, one pickled (status, result) out, until EOF."""
    try:
        os.nice(nice)  # training in the parent comes first on a busy CPU
    except (OSError, AttributeError):
        pass
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answer pipe
    while True:
        try:
            job = pickle.load(inp)
        except EOFError:
            return
        try:
            res: tuple = ("ok", compute_frame(**job))
        except Exception as exc:  # report it and keep serving: the next snapshot may work
            res = ("error", f"{type(exc).__name__}: {exc}")
        pickle.dump(res, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


def render_frame(embedding: np.ndarray, labels: np.ndarray, step: int, test_acc: float | None,
                 style: str = "seed") -> np.ndarray:
    """An (H, W, 3) uint8 image of one frame, titled with its step and test accuracy."""
    return figure_rgb(tsne_frame(embedding, labels, step, test_acc, style))


def write_gif(frames: Sequence[Frame], path: str | Path, frame_ms: int = 500, last_ms: int = 2000,
              style: str = "seed") -> Path:
    """Write the frames as a looping GIF (rendering any without an image); returns the path."""
    if not frames:
        raise ValueError("there are no frames to write yet")
    rgbs = [f.image if f.image is not None else render_frame(f.embedding, f.labels, f.step, f.test_acc, style)
            for f in frames]
    return fileio_write_gif(rgbs, path, frame_ms, last_ms, colors=128)  # lingers on the final map
