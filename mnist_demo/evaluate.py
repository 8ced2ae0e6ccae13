"""Command line: score committed checkpoints on the full 10,000-image test set.

    python -m mnist_demo.evaluate [--model NAME|all] [--json] [--device D]
"""

from __future__ import annotations

import argparse
import json
import sys

from .checkpoints import CheckpointError, load_checkpoint
from .config import pick_device
from .data import MnistUnavailableError, load_mnist
from .engine import evaluate
from .models import CLASSIFIERS


def main(argv: list[str] | None = None) -> int:
    """Print params, accuracy and per-class accuracy; with --json, end with one JSON line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="all", choices=[*CLASSIFIERS, "all"])
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    device = pick_device(args.device)
    try:
        test = load_mnist(train=False)
    except MnistUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out: dict[str, dict] = {}
    status = 0
    for name in CLASSIFIERS if args.model == "all" else (args.model,):
        try:
            model, _meta = load_checkpoint(name, device)
        except CheckpointError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 1
            continue
        res = evaluate(model, test, device)
        params = sum(p.numel() for p in model.parameters())
        out[name] = {"accuracy": res.accuracy, "per_class": [round(a, 4) for a in res.per_class], "params": params}
        per = " ".join(f"{d}:{a:.3f}" for d, a in enumerate(res.per_class))
        print(f"{name:<11} params {params:>9,}  accuracy {res.accuracy:.2%}  per class {per}")
    if args.json:
        print(json.dumps(out))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
