"""Every change this app makes to third-party internals (gradio, PIL, matplotlib), each logged when applied.

apply_all() makes the process-wide ones (build_demo calls it; idempotent); queue_budgets is per app.

Checked on gradio CHECKED_ON only: on any other version the gradio patches refuse (log a warning, return False)
and gradio is left as it is; the app still runs, without these savings and limits.

1. lazy_session_configs: a visitor's copy of the page config is built on demand, not up front.

gradio 6 builds, for every new session (each browser tab and each API client), the config of every component
of the page (`SessionState.config_values`, kept for deep links). For this app's ~300 components that is 40-50
ms of CPU holding the GIL on the visitor's first request, and 0.3-1 MB of memory per session: twenty visitors
arriving within a second queued behind each other for over a second. Here the dict is filled lazily: an
entry is built when gradio reads it (a value update, a deep link), never for components nobody touched.
Applied only when gradio's code has the expected shape; otherwise gradio is left as it is.

2. queue_budgets: each concurrency group gets its own queue budget and a per-client cap (gradio's max_size
counts every event of every endpoint together, so 64 queued trainings locked every visitor's /predict out).

3. limit_pil_pixels: PIL refuses to decode images over a pixel count (gradio hides PIL's bomb warning).

4. serialise_matplotlib: one lock around matplotlib's text and Agg rendering (gradio renders in many threads).

5. skip_component_stubs: gradio writes a `.pyi` stub next to the module of every component subclass it sees
defined (here: into the repository, at import time); ui/components.py's subclasses need none.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
CHECKED_ON = "6.31.0"  # the gradio version these patches were read against and tested on


def gradio_checked(patch: str) -> bool:
    """True on the gradio version the patches were checked on; otherwise log why `patch` is not applied."""
    import gradio

    if gradio.__version__ == CHECKED_ON:
        return True
    log.warning("%s not applied: checked on gradio %s, this is %s", patch, CHECKED_ON, gradio.__version__)
    return False

_PENDING = object()  # stands for "not built yet" in a session's config dict
_building = threading.local()


class LazyConfigs(dict):
    """A session's {block id: config}; entries stored as _PENDING are built by `build(id)` when first read."""

    def __init__(self, pending: list[int], build: Any) -> None:
        super().__init__(dict.fromkeys(pending, _PENDING))
        self._build = build

    def __getitem__(self, key: int) -> Any:
        value = super().__getitem__(key)
        if value is _PENDING:
            value = self._build(key)
            super().__setitem__(key, value)
        return value

    def get(self, key: int, default: Any = None) -> Any:
        return self.__getitem__(key) if key in self else default

    def _resolve_all(self) -> None:
        for key in [k for k, v in super().items() if v is _PENDING]:
            self.__getitem__(key)  # builds and stores it

    def values(self) -> Any:
        self._resolve_all()
        return super().values()

    def items(self) -> Any:
        self._resolve_all()
        return super().items()

    def copy(self) -> dict:
        self._resolve_all()
        return dict(super().items())

    # dict(x), {**x}, x | y and json read a dict subclass's storage directly unless __iter__ is overridden:
    # with it they go through keys() and __getitem__, which builds pending entries.
    def __iter__(self) -> Any:
        return super().__iter__()

    def pop(self, key: int, *default: Any) -> Any:
        if key in self:
            value = self[key]
            super().pop(key)
            return value
        return super().pop(key, *default)

    def popitem(self) -> tuple[int, Any]:
        key, value = super().popitem()
        return key, (self._build(key) if value is _PENDING else value)

    def setdefault(self, key: int, default: Any = None) -> Any:
        if key in self:
            return self[key]
        super().__setitem__(key, default)
        return default

    def __or__(self, other: Any) -> dict:
        return {**self, **other}

    def __eq__(self, other: object) -> bool:
        self._resolve_all()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # as dict

    def __repr__(self) -> str:
        self._resolve_all()
        return super().__repr__()


def lazy_session_configs() -> bool:
    """Make gradio's SessionState build its config copies on demand; True when applied (idempotent)."""
    try:
        from gradio import state_holder
        from gradio.blocks import BlocksConfig
    except ImportError:
        return False
    cls = state_holder.SessionState
    if getattr(cls, "_lazy_configs", False):
        return True
    if not gradio_checked("lazy session configs"):
        return False
    original_init = cls.__init__
    original_build = BlocksConfig.config_for_block
    if not isinstance(BlocksConfig.__dict__.get("config_for_block"), staticmethod):
        return False

    def config_for_block(*args: Any, **kwargs: Any) -> Any:
        if getattr(_building, "session", False):
            return _PENDING
        return original_build(*args, **kwargs)

    def __init__(self: Any, blocks: Any) -> None:
        _building.session = True
        try:
            original_init(self, blocks)
        finally:
            _building.session = False
        values = getattr(self, "config_values", None)
        config = getattr(self, "blocks_config", None)
        if not isinstance(values, dict) or config is None:
            return
        pending = [k for k, v in values.items() if v is _PENDING]

        def build(key: int) -> Any:
            return original_build(key, [], config.blocks[key])

        lazy = LazyConfigs(pending, build)
        for k, v in values.items():  # anything the original already built for real stays as it is
            if v is not _PENDING:
                dict.__setitem__(lazy, k, v)
        self.config_values = lazy

    BlocksConfig.config_for_block = staticmethod(config_for_block)
    cls.__init__ = __init__
    cls._lazy_configs = True
    log.info("gradio patched: a session's page config is built on demand (ui/patches.py)")
    return True


def client_key(request: Any) -> str:
    """Who sent a request: the client's address (behind a Space's proxy, the first X-Forwarded-For entry)."""
    if request is None:
        return "?"
    headers = getattr(request, "headers", None) or {}
    if os.environ.get("SPACE_ID") or os.environ.get("MNIST_TRUST_PROXY"):
        forwarded = headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or "?")


@dataclass(frozen=True)
class Budget:
    """Limits on one concurrency group's events: waiting in its queue (all clients), and per client."""

    waiting: int  # events waiting to start, everyone's together
    per_client: int  # events one client may have waiting or running at once


def queue_budgets(demo: Any, budgets: dict[str, Budget], default: Budget) -> bool:
    """For `demo`'s queue: refuse a join once its group's budget or the client's share is used up; True if applied.

    Use with demo.queue(max_size=None): a flood of one expensive endpoint then fills only its own budget,
    and /predict keeps its own. Refused joins get gradio's "queue full" answer (HTTP 503) with a message.
    """
    try:
        from gradio import queueing, route_utils
    except ImportError:
        return False
    if not gradio_checked("queue budgets"):
        return False
    queue_cls = queueing.Queue
    demo._queue_budgets = {**budgets, "*": default}  # read by the patched push of this demo's queue
    log.info("queue budgets (waiting/per client): %s",
             ", ".join(f"{k} {b.waiting}/{b.per_client}" for k, b in demo._queue_budgets.items()))
    if getattr(queue_cls.push, "_budgeted", False):
        return True
    original = queue_cls.push

    def events_of(queue: Any, cid: str) -> list[Any]:
        waiting = queue.event_queue_per_concurrency_id.get(cid)
        out = list(waiting.queue) if waiting is not None else []
        out += [ev for job in queue.active_jobs if job for ev in job if ev.concurrency_id == cid]
        return out

    async def push(self: Any, body: Any, request: Any, username: Any) -> Any:
        table = getattr(self.blocks, "_queue_budgets", None)  # None: an app without budgets (private mode)
        if not table:
            return await original(self, body, request, username)
        # One join at a time from the check until the event is queued: joins sent at once cannot all pass.
        lock = self.__dict__.setdefault("_budget_lock", asyncio.Lock())
        async with lock:
            return await budgeted_push(self, table, body, request, username)

    async def budgeted_push(self: Any, table: dict, body: Any, request: Any, username: Any) -> Any:
        if table and body.fn_index is not None and isinstance(getattr(self, "event_queue_per_concurrency_id",
                                                                           None), dict):
            try:
                fn = route_utils.get_fn(self.blocks, None, body)
            except Exception:  # gradio answers a bad fn_index itself
                return await original(self, body, request, username)
            cid = str(fn.concurrency_id)
            budget = table.get(cid, table["*"])
            events = events_of(self, cid)
            waiting = self.event_queue_per_concurrency_id.get(cid)
            n_waiting = len(waiting.queue) if waiting is not None else 0
            if n_waiting >= budget.waiting:
                return (False, f"Too many requests of this kind are waiting ({n_waiting}); please try again in "
                        "a minute.", "queue_full")
            who = client_key(request)
            mine = sum(client_key(ev.request) == who for ev in events)
            if mine >= budget.per_client:
                return (False, f"You already have {mine} request{'s' if mine > 1 else ''} of this kind waiting or "
                        "running; wait for it to finish (or stop it) before starting another.", "queue_full")
            # The most events one client has had waiting or running in this group, logged when it grows (at most
            # per_client lines a group): benchmarks/abuse.py reads these lines to check no client got past its cap.
            peaks = self.__dict__.setdefault("_budget_peaks", {})
            if mine + 1 > peaks.get(cid, 0):
                peaks[cid] = mine + 1
                log.info("queue peak: group=%s client_events=%d cap=%d", cid, mine + 1, budget.per_client)
        return await original(self, body, request, username)

    push._budgeted = True  # type: ignore[attr-defined]
    queue_cls.push = push
    log.info("gradio patched: Queue.push applies per-group queue budgets and per-client caps (ui/patches.py)")
    return True


def limit_pil_pixels(max_pixels: int) -> None:
    """PIL raises DecompressionBombError above 2 x MAX_IMAGE_PIXELS: set that to `max_pixels` (gradio hides the
    warning PIL gives below it, so the error is the only guard while gradio decodes an upload)."""
    from PIL import Image

    limit = max(1, max_pixels // 2)
    if limit != Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit
        log.info("PIL: images over %s pixels are refused while decoding", f"{max_pixels:,}")


def serialise_matplotlib() -> None:
    """One process-wide lock around matplotlib's mathtext parser and Agg rendering.

    gradio runs handlers and renders gr.Plot figures in many threads at once. matplotlib's mathtext (the
    t-SNE map's digit markers, $…$ labels) shares one parser and its fonts between threads, and all fonts
    share one FreeType library: under the soak benchmark renders failed with FreeType errors ("raster
    overflow", "invalid outline"), and a 12-thread stress run died of heap corruption. matplotlib's own
    lock covers only Figure.draw; marker paths are made when a scatter is created, and blitting draws
    text outside Figure.draw. Every path that loads or renders glyphs now takes that one lock.
    """
    from matplotlib import mathtext, textpath
    from matplotlib.backends import backend_agg
    from matplotlib.figure import Figure

    if getattr(mathtext.MathTextParser.parse, "_serialised", False):
        return
    # matplotlib (3.11 here) already holds a class-wide re-entrant lock in Figure.draw. Ours must be that same
    # lock: a second lock deadlocked against it (savefig's layout pass takes Figure's lock, then needs text
    # metrics, while another thread held ours and waited for Figure's).
    lock = getattr(Figure, "_render_lock", None) or threading.RLock()

    def locked(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return fn(*args, **kwargs)

        wrapper._serialised = True  # type: ignore[attr-defined]
        return wrapper

    log.info("matplotlib patched: text and Agg rendering share Figure's render lock (ui/patches.py)")
    mathtext.MathTextParser.parse = locked(mathtext.MathTextParser.parse)
    textpath.TextToPath.get_text_path = locked(textpath.TextToPath.get_text_path)  # markers like "$7$"
    backend_agg.FigureCanvasAgg.draw = locked(backend_agg.FigureCanvasAgg.draw)  # a whole render at once
    for name in ("draw_text", "draw_mathtext", "get_text_width_height_descent"):  # text drawn outside a full
        setattr(backend_agg.RendererAgg, name, locked(getattr(backend_agg.RendererAgg, name)))  # render (blitting)


def skip_component_stubs() -> None:
    """gradio's component metaclass writes no `.pyi` stubs from now on (in this process)."""
    from gradio import component_meta

    if getattr(component_meta.create_or_modify_pyi, "_skipped", False):
        return

    def skipped(*args: Any, **kwargs: Any) -> None:
        return None

    skipped._skipped = True  # type: ignore[attr-defined]
    component_meta.create_or_modify_pyi = skipped
    log.info("gradio patched: component subclasses write no .pyi stubs into the repository (ui/patches.py)")


def apply_all(max_pixels: int) -> None:
    """The process-wide patches (each logs once what it applied or why not); safe to call again."""
    lazy_session_configs()  # a new visitor's first request: 72 -> 37 ms of CPU
    limit_pil_pixels(max_pixels)
    serialise_matplotlib()
