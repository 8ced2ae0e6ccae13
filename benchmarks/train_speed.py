"""Seeds' pipeline vs this project's engine: one epoch of the same model and recipe, in one run.

    python benchmarks/train_speed.py [--models cnn lenet5 lstm] [--quick]

The seeds' way: torchvision MNIST + ToTensor/Normalize + DataLoader(shuffle=True), the seed's periodic
evaluation (first 2,000 test images every 50 steps, with autograd on, as `Variable(volatile=True)` is now
a no-op). Ours: mnist_demo.engine.train_classifier with the same recipe. Both are then scored on the full
10k test set. Prints images/s, the ratio, and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import _common  # noqa: F401  (repo on sys.path, MNIST_DATA_DIR)
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms

from mnist_demo.config import TrainConfig, data_dir
from mnist_demo.data import load_mnist
from mnist_demo.engine import evaluate, train_classifier
from mnist_demo.models import build_model, get_spec


def seed_way(name: str, cfg: TrainConfig, steps: int | None) -> tuple[float, int, torch.nn.Module]:
    """(seconds, images, model) for one epoch the way the seed tutorials train."""
    torch.manual_seed(cfg.seed)
    mean, std = get_spec(name).norm
    tf = [transforms.ToTensor()] + ([transforms.Normalize((mean,), (std,))] if (mean, std) != (0.0, 1.0) else [])
    train = torchvision.datasets.MNIST(str(data_dir()), train=True, transform=transforms.Compose(tf), download=False)
    test = torchvision.datasets.MNIST(str(data_dir()), train=False, download=False)
    test_x = (test.data[: cfg.eval_size].unsqueeze(1).float() / 255 - mean) / std
    test_y = test.targets[: cfg.eval_size]
    loader = DataLoader(train, batch_size=cfg.batch_size, shuffle=True)
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
    model = build_model(name)
    t0 = time.perf_counter()
    run_cfg = cfg if steps is None else dataclasses.replace(cfg, max_steps=steps)
    events = list(train_classifier(model, run_cfg, train, test, "cpu"))
    return time.perf_counter() - t0, events[-1].seen, model.eval()


def main() -> None:
    """Run both pipelines per model and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["cnn", "lenet5", "lstm"])
    p.add_argument("--quick", action="store_true", help="150 steps each, for a smoke run")
    args = p.parse_args()
    from _common import load_warning

    if load_warning():
        print(load_warning())
    steps = 150 if args.quick else None
    test = load_mnist(False)
    out: dict[str, dict] = {}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.models:
        cfg = get_spec(name).seed_recipe
        assert isinstance(cfg, TrainConfig)
        s_sec, s_n, s_model = seed_way(name, cfg, steps)
        o_sec, o_n, o_model = our_way(name, cfg, steps)
        s_acc, o_acc = evaluate(s_model, test).accuracy, evaluate(o_model, test).accuracy
        row = {"seed_images_per_s": round(s_n / s_sec), "ours_images_per_s": round(o_n / o_sec),
               "seed_seconds": round(s_sec, 2), "ours_seconds": round(o_sec, 2),
               "ratio": round((o_n / o_sec) / (s_n / s_sec), 2),
               "seed_accuracy": round(s_acc, 4), "ours_accuracy": round(o_acc, 4),
               "eval_every": cfg.eval_every, "batch_size": cfg.batch_size}
        out[name] = row
        print(f"{name:<7} seeds' pipeline {row['seed_images_per_s']:>6} img/s ({s_sec:5.1f} s, acc {s_acc:.2%})  "
              f"engine {row['ours_images_per_s']:>6} img/s ({o_sec:5.1f} s, acc {o_acc:.2%})  "
              f"ratio {row['ratio']:.2f}×")
    print(json.dumps({"benchmark": "train_speed", "quick": args.quick, "models": out}))


if __name__ == "__main__":
    main()
