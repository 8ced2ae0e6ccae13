"""Train every model with its seed tutorial's recipe and compare with what the seed reports.

    python benchmarks/seed_recipes.py [--models ...] [--quick]

Each model is trained from scratch with the seed's optimiser, learning rate, batch size, epochs and
normalisation (mnist_demo.models.MODELS[name].seed_recipe), then scored on the seed's own test subset
(the first 2,000 test images where the seed used them) and on the full 10,000. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import _common  # noqa: F401  (repo on sys.path, MNIST_DATA_DIR)
import torch

from mnist_demo.config import TrainConfig
from mnist_demo.data import load_mnist
from mnist_demo.engine import evaluate, train_classifier
from mnist_demo.models import CLASSIFIERS, build_model, get_spec


def main() -> None:
    """Train each model with its seed recipe and print the reproduction table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(CLASSIFIERS))
    p.add_argument("--quick", action="store_true", help="100 steps per model (smoke run)")
    args = p.parse_args()
    train, test = load_mnist(True), load_mnist(False)
    out: dict[str, dict] = {}
    print(f"{'model':<11}{'seed':>5}  {'recipe':<40}{'seed reports':<46}{'ours (seed subset)':>19}{'ours (10k)':>11}"
          f"{'seconds':>9}")
    for name in args.models:
        spec = get_spec(name)
        cfg = spec.seed_recipe
        assert isinstance(cfg, TrainConfig)
        if args.quick:
            cfg = dataclasses.replace(cfg, max_steps=100)
        torch.manual_seed(cfg.seed)
        model = build_model(name)
        t0 = time.perf_counter()
        for _ in train_classifier(model, cfg, train, test, "cpu"):
            pass
        secs = time.perf_counter() - t0
        sub = evaluate(model, test, n=spec.seed_eval_size).accuracy
        full = evaluate(model, test).accuracy
        recipe = f"{cfg.optimizer} lr {cfg.lr:g}, batch {cfg.batch_size}, {cfg.epochs:g} ep"
        out[name] = {"seed_reports": spec.seed_reports, "seed_subset": spec.seed_eval_size,
                     "ours_seed_subset": round(sub, 4), "ours_10k": round(full, 4), "seconds": round(secs, 1),
                     "recipe": recipe}
        print(f"{name:<11}{spec.seed_file:>5}  {recipe:<40}{spec.seed_reports:<46}"
              f"{sub:>12.2%} ({spec.seed_eval_size // 1000}k){full:>11.2%}{secs:>9.1f}")
    print(json.dumps({"benchmark": "seed_recipes", "quick": args.quick, "models": out}))


if __name__ == "__main__":
    main()
