"""Shared set-up for benchmark scripts: repo on sys.path, MNIST_DATA_DIR default, quiet-machine check."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if "MNIST_DATA_DIR" not in os.environ and (REPO.parent / "shared/data/MNIST/raw").is_dir():
    os.environ["MNIST_DATA_DIR"] = str(REPO.parent / "shared/data")
if "PEN_DATA_DIR" not in os.environ and (REPO.parent / "shared/data/pendigits").is_dir():
    os.environ["PEN_DATA_DIR"] = str(REPO.parent / "shared/data/pendigits")


def load_warning() -> str:
    """A warning when other processes load the CPU (timings would be 3–8× off on 2 cores)."""
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        return ""
    cores = os.cpu_count() or 1
    return f"WARNING: load average {load1:.1f} on {cores} cores; timings are unreliable" if load1 > 0.5 * cores else ""


def preflight(unavailable: str | None) -> str:
    """Exit 2 with one JSON line when the benchmark cannot run (`unavailable` says why); else print and return
    the CPU-load warning ("" on a quiet machine)."""
    import json

    if unavailable:
        print(unavailable)
        print(json.dumps({"error": unavailable}))
        sys.exit(2)
    warning = load_warning()
    if warning:
        print(warning)
    return warning
