"""Seeds' pipeline vs this project's engine: one epoch of the same model and recipe, in one run.

    python benchmarks/train_speed.py [--models cnn lenet5 lstm] [--quick]

The seeds' way: torchvision MNIST + ToTensor/Normalize + DataLoader(shuffle=True), the seed's periodic
evaluation (first 2,000 test images every 50 steps, with autograd on, as `Variable(volatile=True)` is now
a no-op). Ours: mnist_demo.engine.train_classifier with the same recipe. Both are then scored on the full
10k test set. One epoch's accuracy swings by about ±0.5 points with the seed, so each pipeline runs
--seeds seeds (default 3) and the accuracies compared are their means; images/s pool all runs.
Prints images/s, the ratio, the accuracy gap, and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import _common  # noqa: F401  (repo on sys.path, MNIST_DATA_DIR)
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms

from mnist_demo.config import TrainConfig, data_dir
from mnist_demo.data import load_mnist
from mnist_demo.engine import evaluate, train_classifier
from mnist_demo.models import build_model, get_spec


def engine_order(n: int, cfg: TrainConfig) -> list[int]:
    """The training-set indices in the order the engine visits them in its first epoch (same seeded draws)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(n, generator=gen)[: min(cfg.train_size, n)]  # as train_classifier draws them
    return order[torch.randperm(order.shape[0], generator=gen)].tolist()


def seed_way(name: str, cfg: TrainConfig, steps: int | None,
             paired: bool = False) -> tuple[float, int, torch.nn.Module]:
    """(seconds, images, model) for one epoch the way the seed tutorials train.

    paired: the DataLoader draws its batches in the engine's order (a fixed sampler instead of shuffle=True), so
    both pipelines see the same batches from the same initial weights and only their arithmetic differs.
    """
    torch.manual_seed(cfg.seed)
    mean, std = get_spec(name).norm
    tf = [transforms.ToTensor()] + ([transforms.Normalize((mean,), (std,))] if (mean, std) != (0.0, 1.0) else [])
    train = torchvision.datasets.MNIST(str(data_dir()), train=True, transform=transforms.Compose(tf), download=False)
    test = torchvision.datasets.MNIST(str(data_dir()), train=False, download=False)
    test_x = (test.data[: cfg.eval_size].unsqueeze(1).float() / 255 - mean) / std
    test_y = test.targets[: cfg.eval_size]
    loader = (DataLoader(train, batch_size=cfg.batch_size, sampler=engine_order(len(train), cfg)) if paired
              else DataLoader(train, batch_size=cfg.batch_size, shuffle=True))
    model = build_model(name)
    model.norm_mean.fill_(0.0)  # the transform already normalised, as in the seeds
    model.norm_std.fill_(1.0)
    opt = (torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum) if cfg.optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=cfg.lr))
    seen = 0
    t0 = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += x.shape[0]
        if cfg.eval_every and step % cfg.eval_every == 0:
            pred = model(test_x).argmax(1)  # the seeds evaluate with autograd on
            float((pred == test_y).float().mean())
        if steps is not None and step + 1 >= steps:
            break
    seconds = time.perf_counter() - t0
    model.norm_mean.fill_(mean)  # score it like every other model: [0, 1] pixels in
    model.norm_std.fill_(std)
    return seconds, seen, model.eval()


def our_way(name: str, cfg: TrainConfig, steps: int | None) -> tuple[float, int, torch.nn.Module]:
    """(seconds, images, model) for one epoch with the engine (data already in memory, as in the app)."""
    train, test = load_mnist(True), load_mnist(False)
    torch.manual_seed(cfg.seed)  # the same initial weights as seed_way's model for this seed
    model = build_model(name)
    t0 = time.perf_counter()
    run_cfg = cfg if steps is None else dataclasses.replace(cfg, max_steps=steps)
    events = list(train_classifier(model, run_cfg, train, test, "cpu"))
    return time.perf_counter() - t0, events[-1].seen, model.eval()


def main() -> None:
    """Run both pipelines per model and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["cnn", "lenet5", "lstm"])
    p.add_argument("--quick", action="store_true", help="150 steps each, one seed, for a smoke run")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per pipeline (accuracy = their mean)")
    p.add_argument("--order", choices=["paired", "independent"], default="paired",
                   help="paired: the seeds' DataLoader visits the engine's batch order (default); independent: "
                        "shuffle=True, so the two pipelines also differ by their data order")
    args = p.parse_args()
    from _common import load_warning

    if load_warning():
        print(load_warning())
    steps = 150 if args.quick else None
    seeds = range(1, 1 + (1 if args.quick else args.seeds))
    test = load_mnist(False)
    out: dict[str, dict] = {}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; seeds {list(seeds)}; order {args.order}")
    for name in args.models:
        base = get_spec(name).seed_recipe
        assert isinstance(base, TrainConfig)
        runs: dict[str, list[tuple[float, int, float]]] = {"seed": [], "ours": []}
        for seed in seeds:  # one epoch's accuracy swings ~±0.5 points with the seed: compare means
            cfg = dataclasses.replace(base, seed=seed)
            for way in ("seed", "ours"):
                sec, n, model = (seed_way(name, cfg, steps, paired=args.order == "paired") if way == "seed"
                                 else our_way(name, cfg, steps))
                runs[way].append((sec, n, evaluate(model, test).accuracy))
        (s_sec, s_n, s_acc), (o_sec, o_n, o_acc) = ((sum(r[0] for r in runs[w]), sum(r[1] for r in runs[w]),
                                                    float(np.mean([r[2] for r in runs[w]]))) for w in ("seed", "ours"))
        row = {"seed_images_per_s": round(s_n / s_sec), "ours_images_per_s": round(o_n / o_sec),
               "seed_seconds_per_epoch": round(s_sec / len(seeds), 2),
               "ours_seconds_per_epoch": round(o_sec / len(seeds), 2),
               "ratio": round((o_n / o_sec) / (s_n / s_sec), 2),
               "seed_accuracy_mean": round(s_acc, 4), "ours_accuracy_mean": round(o_acc, 4),
               "accuracy_gap_points": round(100 * (o_acc - s_acc), 2),
               "seed_accuracies": [round(r[2], 4) for r in runs["seed"]],
               "ours_accuracies": [round(r[2], 4) for r in runs["ours"]],
               "paired_gaps_points": [round(100 * (o[2] - s[2]), 2) for s, o in zip(runs["seed"], runs["ours"])],
               "eval_every": base.eval_every, "batch_size": base.batch_size}
        out[name] = row
        print(f"{name:<7} seeds' pipeline {row['seed_images_per_s']:>6} img/s ({s_sec / len(seeds):5.1f} s/epoch, "
              f"acc {s_acc:.2%})  engine {row['ours_images_per_s']:>6} img/s ({o_sec / len(seeds):5.1f} s/epoch, "
              f"acc {o_acc:.2%})  ratio {row['ratio']:.2f}×, accuracy gap {row['accuracy_gap_points']:+.2f} points "
              f"(mean of {len(seeds)} seeds)", flush=True)
    print(json.dumps({"benchmark": "train_speed", "quick": args.quick, "order": args.order, "models": out}))


if __name__ == "__main__":
    main()
