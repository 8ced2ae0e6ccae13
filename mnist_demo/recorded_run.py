"""A recorded Train-tab run, shipped so the Train tab shows what a run looks like before a visitor starts one.

    python -m mnist_demo.recorded_run               # trains the Train tab's default (cnn, seed recipe, 1 epoch)
    python -m mnist_demo.recorded_run --confusions  # the committed checkpoints' confusion matrices (Evaluate tab)

Writes mnist_demo/results/train_run.json (a few kB): the loss every 10 steps, the test accuracy every 50 steps
(2,000 images, as a live run shows it), then the per-digit accuracy and confusion matrix on the 10,000 test
images. Needs MNIST (MNIST_DATA_DIR).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .config import RESULTS_DIR
from .fileio import atomic_write

RUN_PATH = RESULTS_DIR / "train_run.json"
RUN_MODEL = "cnn"
CONFUSIONS_PATH = RUN_PATH.with_name("confusions.json")


def checkpoint_sha(path: Path) -> str:
    """First 16 hex digits of the file's SHA-256: ties a shipped result to the checkpoint that made it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def record_confusions(path: Path = CONFUSIONS_PATH, device: str = "cpu") -> Path:
    """Score every committed checkpoint on the 10,000 test images; write each one's confusion matrix and sha."""
    from .checkpoints import checkpoint_path
    from .data import load_mnist
    from .engine import evaluate
    from .registry import ModelRegistry

    registry = ModelRegistry(device)
    registry.load_all()
    test = load_mnist(train=False)
    data = {}
    for name in registry.available():
        file = checkpoint_path(name, registry.directory)
        res = evaluate(registry.model(name), test, device)
        data[name] = {"sha": checkpoint_sha(file), "accuracy": round(res.accuracy, 5),
                      "confusion": res.confusion.astype(int).tolist()}
    return atomic_write(path, lambda fh: fh.write(json.dumps(data, separators=(",", ":")) + "\n"), text=True)


@functools.lru_cache(maxsize=32)
def _confusion(name: str, file: str, mtime_ns: int, path: str) -> list[list[int]] | None:
    try:
        entry = json.loads(Path(path).read_text(encoding="utf-8"))[name]
        if entry["sha"] != checkpoint_sha(Path(file)):
            return None  # the checkpoint changed since: rebuild with --confusions
        return entry["confusion"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def shipped_confusion(name: str, checkpoint: Path, path: Path = CONFUSIONS_PATH) -> list[list[int]] | None:
    """The shipped confusion matrix of committed model `name`, or None when missing or made by another file."""
    try:
        mtime = checkpoint.stat().st_mtime_ns
    except OSError:
        return None
    return _confusion(name, str(checkpoint), mtime, str(path))


def record(path: Path = RUN_PATH, device: str = "cpu") -> Path:
    """Train the Train tab's default run once and write what the tab shows about it."""
    from .data import load_mnist
    from .engine import evaluate, train_classifier
    from .models import get_spec

    spec = get_spec(RUN_MODEL)
    cfg = dataclasses.replace(spec.recipe("seed"), epochs=1.0, eval_every=50, eval_size=2000, log_every=10,
                              pad_renders=0, pen_renders=0)
    train, test = load_mnist(train=True), load_mnist(train=False)
    model = spec.build()
    steps, losses, acc_steps, accs = [], [], [], []
    t0 = time.perf_counter()
    last = None
    for ev in train_classifier(model, cfg, train, test, device):
        last = ev
        steps.append(ev.step)
        losses.append(round(float(ev.loss), 5))
        if ev.test_acc is not None:
            acc_steps.append(ev.step)
            accs.append(round(float(ev.test_acc), 5))
    seconds = time.perf_counter() - t0
    res = evaluate(model, test, device)
    data = {"model": RUN_MODEL, "recipe": "seed", "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "lr": cfg.lr, "optimizer": cfg.optimizer, "train_size": cfg.train_size, "seconds": round(seconds, 1),
            "images_per_s": round(float(last.images_per_s), 0) if last else None,
            "threads": torch.get_num_threads(), "steps": steps, "losses": losses, "acc_steps": acc_steps,
            "accs": accs, "accuracy": round(res.accuracy, 5), "per_class": [round(a, 5) for a in res.per_class],
            "confusion": res.confusion.astype(int).tolist()}
    return atomic_write(path, lambda fh: fh.write(json.dumps(data, separators=(",", ":")) + "\n"), text=True)


def load_run(path: Path = RUN_PATH) -> dict[str, Any] | None:
    """The shipped run, or None when it is missing or unreadable (the tab then shows empty charts)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keys = ("steps", "losses", "acc_steps", "accs", "per_class", "confusion", "accuracy")
    return data if isinstance(data, dict) and all(k in data for k in keys) else None


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"wrote {record_confusions() if '--confusions' in sys.argv[1:] else record()}")
