"""How many sin→cos updates per second reach a gradio_client consumer (goal: ≥ 10/s).

    python benchmarks/sincos_stream.py [--quick] [--steps N] [--fps F] [--threads N]

Launches the app (`python app.py`, its own process), then streams the seed's settings through the /sincos
endpoint twice:
paced at the tab's default rate (--fps, 20/s: the seed's plt.pause(0.05)) and unpaced (fps 0, as fast as the
server can). The baseline, measured in the same run, is the same generator iterated in-process without gradio.
Rate = (updates − 1) / (last arrival − first arrival). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import _common
import numpy as np
import torch
from gradio_client import Client

from harness.server import local_client, serve
from mnist_demo.config import SinCosConfig
from mnist_demo.experiments.sincos_live import sincos_stream


def _rate(arrivals: list[float]) -> dict:
    gaps = np.diff(arrivals)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    return {"updates": len(arrivals), "per_s": round((len(arrivals) - 1) / span, 2) if span > 0 else None,
            "gap_p50_ms": round(float(np.median(gaps)) * 1000, 1) if gaps.size else None,
            "gap_p95_ms": round(float(np.percentile(gaps, 95)) * 1000, 1) if gaps.size else None}


def in_process(cfg: SinCosConfig, fps: float) -> dict:
    """The generator alone: the most a consumer could get."""
    t0 = time.perf_counter()
    arrivals = []
    for _ in sincos_stream(cfg, every=1, fps=fps):
        arrivals.append(time.perf_counter())
    return {**_rate(arrivals), "first_ms": round((arrivals[0] - t0) * 1000, 1)}


def through_client(client: Client, cfg: SinCosConfig, fps: float) -> dict:
    """Every update as gradio_client receives it from the /sincos endpoint."""
    t0 = time.perf_counter()
    arrivals = []
    for _ in client.submit(cfg.cell, cfg.hidden, cfg.lr, cfg.steps, cfg.window, cfg.seed, cfg.lr_decay, 1, fps,
                           api_name="/sincos"):
        arrivals.append(time.perf_counter())
    return {**_rate(arrivals), "first_ms": round((arrivals[0] - t0) * 1000, 1)}


def main(argv: list[str] | None = None) -> dict:
    """Measure, print, and end with one JSON line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="40 steps instead of 100 (smoke run)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--fps", type=float, default=20.0, help="the tab's pacing (default 20 updates/s)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: leave as the app has it)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warn = _common.load_warning()
    if warn:
        print(warn)
    cfg = SinCosConfig(steps=args.steps or (40 if args.quick else 100))
    for _ in sincos_stream(SinCosConfig(steps=2), every=1, fps=0):  # imports torch._dynamo (first Adam) once
        pass

    with serve(threads=args.threads, public=False) as (url, _pid):  # the whole app, as its own process
        client = local_client(url)
        through_client(client, SinCosConfig(steps=3), 0)  # warm the queue and the client
        res = {
            "baseline_in_process_paced": in_process(cfg, args.fps),
            "client_paced": through_client(client, cfg, args.fps),
            "baseline_in_process_unpaced": in_process(cfg, 0),
            "client_unpaced": through_client(client, cfg, 0),
        }
    for name, r in res.items():
        print(f"{name:30s} {r['updates']:4d} updates  {r['per_s']:>6} /s  gap p50 {r['gap_p50_ms']} ms  "
              f"p95 {r['gap_p95_ms']} ms  first after {r['first_ms']} ms")
    paced = res["client_paced"]["per_s"] or 0.0
    ratio = paced / (res["baseline_in_process_paced"]["per_s"] or float("nan"))
    print(f"paced at {args.fps:g}/s the client receives {paced:.1f} updates/s "
          f"({ratio:.2f}× the in-process rate); goal ≥ 10/s: {'met' if paced >= 10 else 'MISSED'}")
    out = {"benchmark": "sincos_stream", "steps": cfg.steps, "fps": args.fps, "quick": args.quick,
           "threads": torch.get_num_threads(), "client_updates_per_s": paced,
           "client_unpaced_updates_per_s": res["client_unpaced"]["per_s"], "client_over_in_process": round(ratio, 3),
           "goal_met": paced >= 10, "results": res, "load_warning": warn or None}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
