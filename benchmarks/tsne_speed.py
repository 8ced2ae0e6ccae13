"""t-SNE speed and quality: our warm-started frames and full maps vs the seed's and scikit-learn's, in one run.

    python benchmarks/tsne_speed.py [--quick]

1. Frames: the `cnn` seed recipe trains for one epoch and hands over the last layer of the first 500 test
   images every 50 steps (24 snapshots). Ours: the first frame from scratch, then each frame warm-started
   from the previous one (mnist_demo.tsne.algorithms.warm_tsne_2d, what LiveTSNE runs). Baseline: seed 000's
   recipe from scratch, `TSNE(perplexity=30, n_components=2, init="pca", max_iter=5000)`, on the last 4
   snapshots. Goal: median warm frame ≤ 0.5 s.
2. Quality, same snapshots: 10-NN label accuracy in 2-D (ours within 1 point of the seed's from-scratch map)
   and the Procrustes disparity between consecutive frames (small = the map holds still).
3. The full 10,000-point map of the trained model: ours (PCA 50 + exact kNN + openTSNE FFT, 80 + 170
   iterations) vs scikit-learn's `TSNE()` defaults on the raw features. Goal: ours ≤ 15 s.

Both sides run with NumPy's BLAS on one thread (what our code uses; on a busy 2-core box a second BLAS
thread made small products ~100× slower, which would have flattered us). Ends with one JSON line.
--quick: 300 training steps, 2 baseline frames, 2,000 points instead of 10,000 — a smoke run only.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if "MNIST_DATA_DIR" not in os.environ and (Path(__file__).resolve().parents[2] / "shared/data/MNIST/raw").is_dir():
    os.environ["MNIST_DATA_DIR"] = str(Path(__file__).resolve().parents[2] / "shared/data")

import numpy as np
import torch
from sklearn.manifold import TSNE

from mnist_demo.data import load_mnist
from mnist_demo.engine import train_classifier
from mnist_demo.models import build_model, get_spec
from mnist_demo.tsne.algorithms import (
    fit_pca,
    knn_label_accuracy,
    last_layer_features,
    procrustes_disparity,
    single_threaded_blas,
    tsne_2d,
    warm_tsne_2d,
)
from mnist_demo.tsne.live import FIRST_FRAME_SCHEDULE


def snapshots(max_steps: int | None) -> tuple[list[np.ndarray], np.ndarray, torch.nn.Module]:
    """Train `cnn` with the seed recipe; 500-point last-layer snapshots at every evaluation (every 50 steps)."""
    cfg = get_spec("cnn").seed_recipe
    if max_steps:
        cfg = dataclasses.replace(cfg, max_steps=max_steps)
    train, test = load_mnist(True), load_mnist(False)
    x500 = test.float_images("cpu", 500)
    torch.manual_seed(cfg.seed)  # the seed sets torch.manual_seed(1) before building the CNN
    model = build_model("cnn")
    snaps = []
    for ev in train_classifier(model, cfg, train, test, "cpu"):
        if ev.test_acc is not None and ev.step % cfg.eval_every == 0:
            snaps.append(last_layer_features(model, x500))
    return snaps, test.labels[:500].numpy(), model


def seed_tsne(x: np.ndarray, max_iter: int = 5000) -> np.ndarray:
    """Seed 000's call with today's argument name (n_iter became max_iter)."""
    return TSNE(perplexity=30, n_components=2, init="pca", max_iter=max_iter, random_state=0).fit_transform(x)


def timed(fn, *a, **kw):
    """(result, seconds)."""
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def main() -> None:
    """Run every comparison and print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run: fewer steps, frames and points")
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        load = os.getloadavg()[0]
        if load > 0.5 * (os.cpu_count() or 1):
            print(f"WARNING: load average {load:.1f} on {os.cpu_count()} cores; timings are unreliable")
    except OSError:
        pass
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores")

    t0 = time.perf_counter()
    snaps, labels, model = snapshots(300 if args.quick else None)
    print(f"trained cnn (seed recipe) and took {len(snaps)} snapshots in {time.perf_counter() - t0:.1f} s")

    with single_threaded_blas():
        # ---- frames: ours, the whole sequence ----
        first, first_s = timed(tsne_2d, snaps[0], 30.0, 0, schedule=FIRST_FRAME_SCHEDULE)
        ours, warm_s = [first], []
        for x in snaps[1:]:
            emb, s = timed(warm_tsne_2d, x, ours[-1], 30.0, 0)
            ours.append(emb)
            warm_s.append(s)
        frame_med = float(np.median(warm_s))
        print(f"ours: first frame {first_s:.2f} s from scratch, warm frames median {frame_med:.3f} s "
              f"(min {min(warm_s):.3f}, max {max(warm_s):.3f}) over {len(warm_s)} frames")

        # ---- frames: the seed's recipe on the last few snapshots ----
        k = 2 if args.quick else 4
        base_idx = list(range(len(snaps) - k, len(snaps)))
        seed_maps, seed_s = [], []
        for i in base_idx:
            emb, s = timed(seed_tsne, snaps[i])
            seed_maps.append(emb)
            seed_s.append(s)
            print(f"  seed recipe, snapshot {i + 1}: {s:.2f} s")
        seed_med = float(np.median(seed_s))

        acc_ours = [knn_label_accuracy(ours[i], labels) for i in base_idx]
        acc_seed = [knn_label_accuracy(e, labels) for e in seed_maps]
        gap = 100 * (float(np.mean(acc_seed)) - float(np.mean(acc_ours)))
        proc_ours = [procrustes_disparity(a, b) for a, b in itertools.pairwise(ours)]
        proc_seed = [procrustes_disparity(a, b) for a, b in itertools.pairwise(seed_maps)]
        print(f"frame: ours {frame_med:.3f} s vs seed {seed_med:.2f} s -> {seed_med / frame_med:.1f}x faster "
              f"(goal <= 0.5 s: {'met' if frame_med <= 0.5 else 'NOT met'})")
        print(f"10-NN label accuracy on the last {k} snapshots: ours {np.mean(acc_ours):.3f}, seed "
              f"{np.mean(acc_seed):.3f} (gap {gap:+.1f} points; goal within 1)")
        print(f"Procrustes disparity between consecutive frames: ours median {np.median(proc_ours):.4f}, "
              f"seed from scratch median {np.median(proc_seed):.4f}")

        # ---- the full map ----
        n = 2000 if args.quick else 10_000
        test = load_mnist(False)
        feats, feat_s = timed(last_layer_features, model, test.float_images("cpu", n))
        big_labels = test.labels[:n].numpy()

        def ours_map(x: np.ndarray) -> np.ndarray:
            proj = fit_pca(x)
            return tsne_2d(proj.apply(x), 30.0, 0, reduced=True)

        big_ours, big_ours_s = timed(ours_map, feats)
        big_sk, big_sk_s = timed(lambda x: TSNE(random_state=0).fit_transform(x), feats)
        acc_big_ours, acc_big_sk = knn_label_accuracy(big_ours, big_labels), knn_label_accuracy(big_sk, big_labels)
        print(f"{n:,}-point map (features {feat_s:.1f} s, shared): ours {big_ours_s:.1f} s (10-NN {acc_big_ours:.3f}) "
              f"vs scikit-learn default {big_sk_s:.1f} s (10-NN {acc_big_sk:.3f}) -> "
              f"{big_sk_s / big_ours_s:.1f}x (goal <= 15 s: {'met' if big_ours_s <= 15 else 'NOT met'})")

    print(json.dumps({
        "benchmark": "tsne_speed", "quick": args.quick, "snapshots": len(snaps),
        "frame_median_s": round(frame_med, 4), "first_frame_s": round(first_s, 3),
        "seed_frame_median_s": round(seed_med, 3), "frame_speedup": round(seed_med / frame_med, 1),
        "frame_goal_met": frame_med <= 0.5,
        "knn10_ours": round(float(np.mean(acc_ours)), 4), "knn10_seed": round(float(np.mean(acc_seed)), 4),
        "knn10_gap_points": round(gap, 2), "quality_goal_met": gap <= 1.0,
        "procrustes_ours_median": round(float(np.median(proc_ours)), 5),
        "procrustes_seed_median": round(float(np.median(proc_seed)), 5),
        "map_points": n, "map_features_s": round(feat_s, 2), "map_ours_s": round(big_ours_s, 2),
        "map_sklearn_default_s": round(big_sk_s, 2),
        "map_speedup": round(big_sk_s / big_ours_s, 2),
        "map_goal_met": None if args.quick else big_ours_s <= 15,  # the goal is for 10,000 points
        "map_knn10_ours": round(acc_big_ours, 4), "map_knn10_sklearn": round(acc_big_sk, 4),
    }))


if __name__ == "__main__":
    main()
