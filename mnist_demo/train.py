"""Command line: train a model with its seed or best recipe and write checkpoints/<name>.pt.

    python -m mnist_demo.train --model cnn [--recipe seed|best] [--epochs N] [--device D] [--dry-run]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoints import checkpoint_path, save_checkpoint
from .config import TrainConfig, pick_device
from .data import MnistUnavailableError, load_mnist
from .drawing.pad_renders import with_pad_renders
from .drawing.pen_data import PenDataUnavailableError
from .drawing.pen_renders import with_pen_renders
from .engine import Scored, fit_and_score
from .models import CLASSIFIERS, get_spec


def recipe_config(name: str, recipe: str = "best", **overrides: Any) -> TrainConfig:
    """The model's seed/best recipe with None-valued overrides ignored."""
    cfg = get_spec(name).recipe(recipe)
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"{name} is not a classifier; its demo lives in mnist_demo.experiments.sincos")
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def fit(name: str, cfg: TrainConfig, device: torch.device, quiet: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train `name` from scratch with `cfg`; return the model and its metrics on the full test set."""
    from tqdm.auto import tqdm

    train = with_pen_renders(with_pad_renders(load_mnist(train=True), cfg.pad_renders), cfg.pen_renders)
    test = load_mnist(train=False)
    # The initial weights come from the recipe's seed too, not from whatever drew on the global generator before:
    # a rebuild starts from the same weights (benchmarks/pen_share.py saw a process's first model vary).
    torch.manual_seed(cfg.seed)
    model = get_spec(name).build()
    bar = None if quiet else tqdm(total=1, desc=name, unit="step", dynamic_ncols=True)
    for ev in fit_and_score(model, cfg, train, test, device):
        if isinstance(ev, Scored):
            metrics = {**ev.metrics, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        elif bar is not None:
            bar.total = ev.total_steps
            bar.n = ev.step
            post = {"loss": f"{ev.loss:.4f}", "img/s": f"{ev.images_per_s:.0f}"}
            if ev.test_acc is not None:
                post["acc"] = f"{ev.test_acc:.4f}"
            bar.set_postfix(post, refresh=False)
            bar.refresh()
    if bar is not None:
        bar.close()
    return model, metrics


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """CLI flags."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=[*CLASSIFIERS, "all"])
    p.add_argument("--recipe", choices=["seed", "best"], default="best")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--dry-run", action="store_true", help="20 steps, checkpoint written to --out only")
    p.add_argument("--out", type=Path, default=None, help="checkpoint path (default checkpoints/NAME.pt)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Train the requested model(s) and write their checkpoints."""
    args = parse_args(argv)
    device = pick_device(args.device)
    names = CLASSIFIERS if args.model == "all" else (args.model,)
    for name in names:
        cfg = recipe_config(name, args.recipe, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed, max_steps=20 if args.dry_run else None)
        try:
            model, metrics = fit(name, cfg, device)
        except (MnistUnavailableError, PenDataUnavailableError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        metrics["recipe"] = args.recipe
        if args.dry_run and args.out is None:
            print(f"{name}: dry run, accuracy {metrics['accuracy']:.4f}; nothing written (use --out)")
            continue
        target = args.out if len(names) == 1 and args.out is not None else checkpoint_path(name)
        try:
            path = save_checkpoint(name, model, metrics, cfg, target)
        except OSError as exc:  # a full disk or a read-only checkout: one line, not a traceback
            print(f"error: could not write {target}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"{name}: accuracy {metrics['accuracy']:.4%} in {metrics['train_seconds']}s -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
