"""Teach it your handwriting (issue 20): does a seconds-long fine-tune on 30 of a person's digits help on the rest?

    python benchmarks/personalize.py [--model NAME] [--steps N] [--no-load] [--writers 25,26]

Each held-out pen writer (pen_data.HELD_OUT_WRITERS, people no model trained on) plays one visitor: every one
of their digits is drawn as the pad delivers it (held_out_suite) and preprocessed like the app. 3 drawings per
digit (30, seeded) teach; all the writer's other digits test (never in a batch: checked on ids). Reported per
writer and averaged: base vs fine-tuned accuracy on the unseen digits, the MNIST test accuracy before and after,
the fine-tune's wall time. The fine-tune runs as in the app: on a nice-10 thread (background.in_background), one
torch thread, while a normal-priority thread makes 20 predictions a second (the app serving others; --no-load:
quiet). Baseline in the same run: the same fine-tune without replay and without augmentation (the person's 30
digits alone), which shows what replay buys. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import replace

import _common  # noqa: F401  (repo on sys.path, MNIST_DATA_DIR, PEN_DATA_DIR)
import numpy as np
import torch

from mnist_demo.background import in_background
from mnist_demo.config import Augment
from mnist_demo.data import load_mnist
from mnist_demo.drawing.pen_data import HELD_OUT_WRITERS, held_out_suite
from mnist_demo.drawing.preprocess import preprocess
from mnist_demo.engine import evaluate
from mnist_demo.personalize import PersonalizeConfig, personalize, predict_labels, replay_set
from mnist_demo.predict import predict_probs
from mnist_demo.registry import PEN_METRIC, ModelRegistry

PER_DIGIT = 3  # drawings per digit a visitor teaches


def teach_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(teach rows: PER_DIGIT of each digit, test rows: the rest), seeded."""
    rng = np.random.default_rng(seed)
    teach = np.concatenate([rng.permutation(np.nonzero(labels == d)[0])[:PER_DIGIT] for d in range(10)])
    test = np.setdiff1d(np.arange(len(labels)), teach)
    return np.sort(teach), test


def load_thread(model: torch.nn.Module, images: np.ndarray, stop: threading.Event, rate: float = 20.0) -> dict:
    """Predictions at `rate` per second at normal priority until `stop` (the app serving other visitors)."""
    stats = {"n": 0}

    def work() -> None:
        k = 0
        while not stop.is_set():
            predict_probs(model, images[k % len(images)])
            stats["n"] += 1
            k += 1
            stop.wait(1 / rate)

    threading.Thread(target=work, daemon=True, name="load").start()
    return stats


def run_finetune(model, x, y, cfg, replay, ids, load: bool, load_images: np.ndarray):
    """(last event, wall seconds) for one fine-tune on a nice-10 thread, under load when asked."""
    stop_load, stop_run = threading.Event(), threading.Event()
    stats = load_thread(model, load_images, stop_load) if load else {"n": 0}
    t0 = time.perf_counter()
    last = None
    for ev in in_background(lambda: personalize(model, x, y, cfg, replay, ids), stop_run, name="teach"):
        last = ev
    wall = time.perf_counter() - t0
    stop_load.set()
    return last, wall, stats["n"]


def main() -> None:
    """Simulate the held-out writers as visitors; print per writer, averages and one JSON line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="default: the best single reader of real handwriting")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--own-share", type=float, default=None)
    p.add_argument("--writers", default=None, help="comma-separated held-out writers (default all)")
    p.add_argument("--no-load", action="store_true", help="time the fine-tune on a quiet machine")
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args()
    from _common import load_warning

    torch.set_num_threads(1)  # as the app runs
    if load_warning():
        print(load_warning())
    reg = ModelRegistry("cpu")
    name = args.model or reg.best(PEN_METRIC, single=True)
    model = reg.model(name)
    cfg = PersonalizeConfig()
    cfg = replace(cfg, **{k: v for k, v in (("steps", args.steps), ("lr", args.lr), ("own_share", args.own_share))
                          if v is not None})
    naive_cfg = replace(cfg, own_share=1.0, augment=Augment())
    writers = tuple(int(w) for w in args.writers.split(",")) if args.writers else HELD_OUT_WRITERS
    t0 = time.perf_counter()
    suite = held_out_suite(writers=writers)
    pre = [preprocess(s["image"]) for s in suite]
    images = np.stack([q.image for q in pre])
    labels = np.array([s["label"] for s in suite])
    who = np.array([s["writer"] for s in suite])
    replay, replay_desc = replay_set()
    test = load_mnist(train=False)
    mnist_base = evaluate(model, test).accuracy
    print(f"model {name}; {len(suite)} drawings of writers {writers[0]}-{writers[-1]} ready in "
          f"{time.perf_counter() - t0:.1f} s; replay: {replay_desc}; {cfg}")
    print(f"MNIST test accuracy of the base model: {mnist_base:.2%}; fine-tune "
          f"{'on a quiet machine' if args.no_load else 'while 20 predictions/s are served'}")
    rows = []
    for w in writers:
        rows_w = np.nonzero(who == w)[0]
        teach_rows, test_rows = teach_split(labels[rows_w], seed=w)
        teach_ids, test_ids = rows_w[teach_rows], rows_w[test_rows]
        base_pred = predict_labels(model, images[test_ids])
        row = {"writer": w, "teach": len(teach_ids), "test": len(test_ids),
               "base": float((base_pred == labels[test_ids]).mean())}
        variants = [("tuned", cfg)] + ([] if args.no_baseline else [("naive", naive_cfg)])
        for key, c in variants:
            last, wall, served = run_finetune(model, images[teach_ids], labels[teach_ids], c, replay, teach_ids,
                                              not args.no_load, images[test_ids])
            assert last.seen_ids and last.seen_ids <= set(teach_ids.tolist())
            assert last.seen_ids.isdisjoint(test_ids.tolist()), "a test drawing reached the fine-tune"
            pred = predict_labels(last.model, images[test_ids])
            row[key] = float((pred == labels[test_ids]).mean())
            row[f"{key}_mnist"] = evaluate(last.model, test).accuracy
            row[f"{key}_s"] = round(wall, 2)
            if key == "tuned":
                row["fixed"] = int(((base_pred != labels[test_ids]) & (pred == labels[test_ids])).sum())
                row["broken"] = int(((base_pred == labels[test_ids]) & (pred != labels[test_ids])).sum())
                row["served"] = served
        rows.append(row)
        naive = "" if args.no_baseline else (f" | naive (no replay, no aug.) {row['naive']:.2%}, MNIST "
                                             f"{row['naive_mnist']:.2%}")
        print(f"writer {w}: {row['teach']} teach / {row['test']} test; unseen digits {row['base']:.2%} -> "
              f"{row['tuned']:.2%} ({row['fixed']} fixed, {row['broken']} broken); MNIST {mnist_base:.2%} -> "
              f"{row['tuned_mnist']:.2%}; fine-tune {row['tuned_s']:.2f} s ({row['served']} predictions served)"
              + naive, flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "writer"}
    err_b, err_t = 1 - mean["base"], 1 - mean["tuned"]
    drop = (err_b - err_t) / err_b if err_b else 0.0
    print(f"\naverage over {len(rows)} writers: error on unseen digits {err_b:.2%} -> {err_t:.2%} "
          f"({drop:+.0%} relative fall; goal ≥ 50 %); MNIST {mnist_base:.2%} -> {mean['tuned_mnist']:.2%} "
          f"({(mean['tuned_mnist'] - mnist_base) * 100:+.2f} points; goal ≥ -0.30); fine-tune "
          f"{mean['tuned_s']:.2f} s mean, {max(r['tuned_s'] for r in rows):.2f} s max (goal ≤ 10 s)")
    if not args.no_baseline:
        print(f"baseline, same run (the person's digits alone, no replay, no augmentation): error "
              f"{1 - mean['naive']:.2%}, MNIST {mean['naive_mnist']:.2%} "
              f"({(mean['naive_mnist'] - mnist_base) * 100:+.2f} points), {mean['naive_s']:.2f} s")
    print(json.dumps({"benchmark": "personalize", "model": name, "steps": cfg.steps, "writers": len(rows),
                      "load": not args.no_load, "base_error": round(err_b, 4), "tuned_error": round(err_t, 4),
                      "error_fall_rel": round(drop, 3), "mnist_base": round(mnist_base, 4),
                      "mnist_tuned": round(mean["tuned_mnist"], 4),
                      "naive_error": None if args.no_baseline else round(1 - mean["naive"], 4),
                      "naive_mnist": None if args.no_baseline else round(mean["naive_mnist"], 4),
                      "finetune_s_mean": round(mean["tuned_s"], 2),
                      "finetune_s_max": max(r["tuned_s"] for r in rows), "per_writer": rows}))


if __name__ == "__main__":
    main()
