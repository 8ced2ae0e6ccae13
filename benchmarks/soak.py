"""Soak: a mixed crowd uses the real app for N minutes; does the server's memory keep growing?

    python benchmarks/soak.py [--minutes 10] [--warmup 3] [--max-sessions 50] [--threads N] [--local] [--quick]

Starts `python app.py --public --max-sessions 50` in its own process and runs, until the time is up:
  - 3 drawers: /predict and /draw on pen-drawn test digits; each visitor leaves (closes its session) after
    20 calls and a new one arrives,
  - 1 trainer: short runs of mlp / simple_cnn / lenet5, each by a new visitor, every third one stopped mid-run,
  - 1 explainer: /explain (cycling the saliency methods) and /activations on the models in turn,
  - 1 fitter: sin→cos RNN fits, every other one stopped mid-run,
  - t-SNE maps and placements, when the app has the t-SNE tab.
The server's resident memory (RSS, /proc) is sampled every 5 s. First a warm-up: every kind of call once
(each training model, a stopped fit) and as many new visitors as the session cap, so that lazy imports,
first allocations and gradio's bounded session store (about 0.3-1 MB per session, oldest dropped beyond
--max-sessions; public mode keeps 300) are not counted as growth. Then it reports the growth to the end and
the slope of a straight-line fit over the second half, and the change of the typical level (median RSS of
the last minute against the first; in-flight training runs and t-SNE maps add transient peaks of up to
~200 MB that a single end sample can catch) and of the floor (the lowest sample of each minute, what stays
resident between jobs). The warm-up's crowd phase lasts --warmup minutes (default 3: with 1 the heap was
still reaching its working size, a plateau from minute 3 on). Ends with one JSON line.
Goal: typical level and floor grow <= 50 MB over the 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import _common
import numpy as np
from gradio_client import Client
from load_test import drawings

from harness.server import local_client, serve

GOAL_MB = 50.0


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Soak:
    """The crowd: worker threads that loop over their calls until `deadline`, counting calls and errors."""

    def __init__(self, url: str, pads: list[dict], endpoints: set[str]) -> None:
        self.url, self.pads, self.endpoints = url, pads, endpoints
        self.calls: Counter[str] = Counter()
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.sessions = 0
        self.deadline = float("inf")

    def arrive(self) -> Client:
        """A new visitor (a new gradio session)."""
        with self.lock:
            self.sessions += 1
        return local_client(self.url)

    def call(self, client: Client, api: str, *args: object) -> object:
        """One call, counted; an error is recorded (and the worker goes on)."""
        try:
            out = client.predict(*args, api_name=api)
        except Exception as exc:
            with self.lock:
                self.errors.append(f"{api}: {type(exc).__name__}: {str(exc)[:160]}")
            return None
        with self.lock:
            self.calls[api] += 1
        return out

    def running(self) -> bool:
        """False once the time is up."""
        return time.monotonic() < self.deadline

    # ---- the visitors ----
    def drawer(self, seed: int, once: bool = False) -> None:
        """Draw, predict, look at every model; a new visitor every 10 calls."""
        rng = np.random.default_rng(seed)
        client, n = self.arrive(), 0
        while self.running():
            pad = self.pads[int(rng.integers(len(self.pads)))]
            self.call(client, "/predict", pad, "lenet5")
            self.call(client, "/draw", pad, "mlp")
            n += 2
            if once:
                break
            if n % 20 == 0:  # this visitor leaves, the next one arrives
                client.close()
                client = self.arrive()
            time.sleep(0.2)
        client.close()

    def trainer(self, once: bool = False) -> None:
        """Short runs by new visitors; every third is stopped as soon as it reports a step."""
        runs = 0
        models = [("mlp", 0.5, 6000), ("simple_cnn", 0.2, 6000), ("lenet5", 0.1, 6000)]
        while self.running() or (once and runs < len(models)):
            name, epochs, size = models[runs % len(models)]
            client = self.arrive()
            try:
                job = client.submit(name, "seed", epochs, 64, 0.003, "adam", size, None, api_name="/train")
                stop = runs % 3 == 2
                while not job.done():  # polled: iterating a job busy-waits and would load the CPU
                    outs = job.outputs()
                    if stop and outs and "step" in str(outs[-1][2]):
                        self.call(client, "/stop_training")
                        stop = False
                    time.sleep(0.25)
                job.result()
                final = job.outputs()[-1][2] if job.outputs() else ""
                with self.lock:
                    self.calls["/train"] += 1
                if not str(final).startswith("Done"):
                    raise RuntimeError(f"run ended with {str(final)[:120]!r}")
                self.call(client, "/predict", self.pads[runs % len(self.pads)], f"yours: {name} #1")
            except Exception as exc:
                with self.lock:
                    self.errors.append(f"/train: {type(exc).__name__}: {str(exc)[:160]}")
            client.close()
            runs += 1
            if once and runs >= len(models):
                return

    def explainer(self, once: bool = False) -> None:
        """Saliency and activations for each model and method in turn."""
        client, k = self.arrive(), 0
        models, methods = ["lenet5", "simple_cnn", "mlp", "lstm"], ["integrated", "grad_x_input", "gradient"]
        while self.running():
            pad = self.pads[k % len(self.pads)]
            self.call(client, "/explain", pad, models[k % len(models)], methods[k % len(methods)])
            self.call(client, "/activations", pad, models[k % len(models)])
            k += 1
            if once:
                break
            time.sleep(0.5)
        client.close()

    def fitter(self, once: bool = False) -> None:
        """sin→cos fits; every other one stopped after its first update."""
        client, k = self.arrive(), 0
        while self.running() or (once and k < 2):
            try:
                job = client.submit("rnn", 32, 0.02, 300, 10, k, 1.0, 0, 0, api_name="/sincos")
                stop = k % 2 == 1
                while not job.done():
                    if stop and job.outputs():
                        self.call(client, "/sincos_stop")
                        stop = False
                    time.sleep(0.1)
                if not str(job.result()[2]).startswith(("Done", "Stopped")):
                    raise RuntimeError(f"fit ended with {str(job.result()[2])[:120]!r}")
                with self.lock:
                    self.calls["/sincos"] += 1
            except Exception as exc:
                with self.lock:
                    self.errors.append(f"/sincos: {type(exc).__name__}: {str(exc)[:160]}")
            k += 1
            if once and k >= 2:
                break
            time.sleep(1.0)
        client.close()

    def tsne(self, once: bool = False) -> None:
        """A small t-SNE map and the visitor's drawing placed in it."""
        client, k = self.arrive(), 0
        while self.running():
            model = ["lenet5", "mlp", "simple_cnn"][k % 3]
            self.call(client, "/tsne_map", model, 500, 30, "seed")
            self.call(client, "/tsne_place", self.pads[k % len(self.pads)], model, 500, 30, "seed")
            k += 1
            if once:
                break
            time.sleep(2.0)
        client.close()

    def fill_sessions(self, n: int) -> None:
        """n short visits (one drawing each), so gradio's bounded session store is full before measuring."""
        for i in range(n):
            client = self.arrive()
            self.call(client, "/draw", self.pads[i % len(self.pads)], "lenet5")
            client.close()

    def workers(self) -> list[Callable[..., None]]:
        """Every worker this app supports (t-SNE only when the tab is there)."""
        ws: list[Callable[..., None]] = [lambda once=False, s=s: self.drawer(s, once) for s in range(3)]
        ws += [self.trainer, self.explainer, self.fitter]
        if "/tsne_map" in self.endpoints and "/tsne_place" in self.endpoints:
            ws.append(self.tsne)
        return ws


def main(argv: list[str] | None = None) -> dict:
    """Warm up, soak for the given minutes while sampling RSS, and print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=None, help="torch threads in the server (app.py --threads)")
    p.add_argument("--local", action="store_true", help="serve in local mode instead of public mode")
    p.add_argument("--max-sessions", type=int, default=50, help="the server's session cap (app.py --max-sessions)")
    p.add_argument("--warmup", type=float, default=3.0, help="minutes of the full crowd before measuring")
    p.add_argument("--log", type=Path, default=None, help="keep the server's output in this file")
    p.add_argument("--quick", action="store_true", help="smoke run: one minute after a 20 s warm-up")
    args = p.parse_args(argv)
    if args.quick:
        args.minutes, args.warmup = 1.0, 1 / 3
    warn = _common.load_warning()
    if warn:
        print(warn)
    with tempfile.TemporaryDirectory() as tmp:
        pads = drawings(20, Path(tmp))
        extra = ("--max-sessions", str(args.max_sessions))
        log = args.log or Path(tmp) / "server.log"
        with serve(args.threads, public=not args.local, log=log, extra=extra) as (url, pid):
            endpoints = set(local_client(url).view_api(print_info=False, return_format="dict")[
                "named_endpoints"])
            soak = Soak(url, pads, endpoints)
            start_mb = rss_mb(pid)
            t0 = time.monotonic()
            threads_warm: list[threading.Thread] = []
            for w in soak.workers():  # warm-up: each kind of call once, ...
                w(once=True)
            soak.fill_sessions(args.max_sessions)  # ... a full session store, ...
            soak.deadline = time.monotonic() + args.warmup * 60  # ... and the whole crowd at once for a while
            for t in [threading.Thread(target=w, daemon=True) for w in soak.workers()]:
                t.start()
                threads_warm.append(t)
            for t in threads_warm:
                t.join(timeout=300)
            warm_s = time.monotonic() - t0
            base_mb = rss_mb(pid)
            print(f"RSS {start_mb:.0f} MB at start, {base_mb:.0f} MB after the warm-up ({warm_s:.0f} s)")
            soak.deadline = time.monotonic() + args.minutes * 60
            threads = [threading.Thread(target=w, daemon=True) for w in soak.workers()]
            for t in threads:
                t.start()
            samples: list[tuple[float, float]] = [(0.0, base_mb)]
            t1 = time.monotonic()
            while soak.running():
                time.sleep(5.0)
                samples.append((time.monotonic() - t1, rss_mb(pid)))
                if len(samples) % 12 == 0:
                    print(f"  {samples[-1][0] / 60:4.1f} min: RSS {samples[-1][1]:.0f} MB, "
                          f"{sum(soak.calls.values())} calls, {len(soak.errors)} errors", flush=True)
            for t in threads:
                t.join(timeout=300)
            end_mb = rss_mb(pid)
            samples.append((time.monotonic() - t1, end_mb))
    ts, mb = np.array(samples).T
    half = ts >= ts[-1] / 2
    slope = float(np.polyfit(ts[half] / 60, mb[half], 1)[0]) if half.sum() > 2 else None
    growth = end_mb - base_mb
    # RSS jumps by up to ~200 MB while a training run or a t-SNE map is in flight, and glibc returns freed
    # memory lazily, so one end sample is noisy; a leak moves the typical level: median of the last minute
    # against the median of the first minute after the warm-up.
    window = min(60.0, ts[-1] / 3)
    level_growth = float(np.median(mb[ts >= ts[-1] - window]) - np.median(mb[ts <= window]))
    # What stays resident between jobs: the lowest sample of each minute (the app trims freed memory every
    # 30 s), last minute against the first. A leak lifts this floor; in-flight jobs do not.
    floor_growth = float(mb[ts >= ts[-1] - window].min() - mb[ts <= window].min())
    res = {
        "benchmark": "soak", "minutes": args.minutes, "mode": "local" if args.local else "public",
        "threads": args.threads or "default", "rss_start_mb": round(start_mb, 1),
        "rss_after_warmup_mb": round(base_mb, 1),
        "rss_end_mb": round(end_mb, 1), "rss_max_mb": round(float(mb.max()), 1), "growth_mb": round(growth, 1),
        "median_level_growth_mb": round(level_growth, 1), "floor_growth_mb": round(floor_growth, 1),
        "rss_minutes": [round(float(mb[(ts >= m * 60) & (ts < (m + 1) * 60)].min()), 1)
                        for m in range(int(ts[-1] // 60)) if ((ts >= m * 60) & (ts < (m + 1) * 60)).any()],
        "slope_mb_per_min_second_half": None if slope is None else round(slope, 2), "goal_growth_mb": GOAL_MB,
        "sessions": soak.sessions, "max_sessions": args.max_sessions, "calls": dict(soak.calls),
        "errors": len(soak.errors), "error_examples": soak.errors[:5],
        "met": max(level_growth, floor_growth) <= GOAL_MB and not soak.errors,
        "load_warning": warn or None, "quick": args.quick,
    }
    per_kind = ", ".join(f"{k} {v}" for k, v in soak.calls.items())
    print(f"{sum(soak.calls.values())} calls in {args.minutes:g} min ({per_kind}), {len(soak.errors)} errors")
    for e in soak.errors[:5]:
        print("  error:", e)
    slope_txt = "n/a" if slope is None else f"{slope:+.2f} MB/min"
    print(f"RSS after warm-up {base_mb:.0f} MB → end {end_mb:.0f} MB (max {mb.max():.0f} MB): growth {growth:+.1f} MB; "
          f"typical level (median, last vs first minute) {level_growth:+.1f} MB; floor (lowest sample, last vs "
          f"first minute) {floor_growth:+.1f} MB; slope over the second half "
          f"{slope_txt}; {soak.sessions} visitor sessions; goal ≤ {GOAL_MB:.0f} MB")
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
