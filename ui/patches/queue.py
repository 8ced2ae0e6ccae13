"""gradio: per-group queue budgets and per-client caps on the queue (see ui/patches/__init__)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from .version import gradio_checked, log


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
    log.info("gradio patched: Queue.push applies per-group queue budgets and per-client caps (ui/patches)")
    return True
