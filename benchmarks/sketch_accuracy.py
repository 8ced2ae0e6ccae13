"""How well each committed model reads *synthetic* pad-like drawings, with the naive-resize path as the baseline.

    python benchmarks/sketch_accuracy.py [--n 2000] [--quick] [--record]

What it is: MNIST test digits redrawn by the same code (sketches.random_spec, render_mask, to_pad_image) that
makes the pad renders `lenet5` and `cnn_fc3` train on, so for those models it is *in-distribution*: it checks
the drawing path (canvas sizes, brushes, transparency, preprocessing), not whether a new person's handwriting is
read. That figure is benchmarks/pen_accuracy.py's: real pen digits of writers no model saw.

Builds a fixed, seeded suite from the MNIST test set rendered the way the app's 280 px pad delivers
drawings: black ink on opaque white or on a transparent background, digits 25–90 % of the canvas
height anywhere on it, every brush radius in sketches.BRUSH_RADII, rotations to ±15°, half upscaled
bitmaps and half skeleton strokes redrawn with a round pen. A style slice adds crossed 7s, flagged
1s and curled 9s drawn with the pen. Reports top-1 per model and slice, prediction latency
(preprocess + forward, median of 200), and ends with one JSON line. --record stores each model's top-1
in its checkpoint (metrics["sketch_top1"]); the Draw tab then defaults to the best reader of drawings.
"""

from __future__ import annotations

import argparse
import json
import time

import _common  # noqa: F401  (repo on sys.path, MNIST_DATA_DIR)
import numpy as np
import torch

from mnist_demo.checkpoints import record_metric
from mnist_demo.drawing.preprocess import naive_resize, preprocess
from mnist_demo.drawing.sketches import build_suite
from mnist_demo.predict import predict_probs
from mnist_demo.registry import SKETCH_METRIC, ModelRegistry


def _accuracy(preds: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> float:
    return float((preds[mask] == labels[mask]).mean()) if mask.any() else float("nan")


def main() -> None:
    """Score every model on the suite and time single predictions."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="regular drawings (plus n/5 style drawings)")
    p.add_argument("--quick", action="store_true", help="200 + 60 drawings, 50 timing runs")
    p.add_argument("--record", action="store_true",
                   help="write each model's top-1 into its checkpoint's metrics (the Draw tab defaults to the best)")
    args = p.parse_args()
    from _common import load_warning

    if load_warning():
        print(load_warning())
    n = 200 if args.quick else args.n
    runs = 50 if args.quick else 200
    t0 = time.perf_counter()
    suite = build_suite(n, max(30, n // 5 // 3 * 3))
    print(f"suite: {len(suite)} drawings built in {time.perf_counter() - t0:.1f} s")
    labels = np.array([s["label"] for s in suite])
    tags = [set(s["tags"]) for s in suite]
    t0 = time.perf_counter()
    pre = [preprocess(s["image"]) for s in suite]
    pre_ms = (time.perf_counter() - t0) * 1000 / len(suite)
    blank = sum(p is None for p in pre)
    x = torch.from_numpy(np.stack([p.image if p is not None else np.zeros((28, 28), np.float32) for p in pre]))
    x_naive = torch.from_numpy(np.stack([naive_resize(s["image"]) for s in suite]))
    reg = ModelRegistry("cpu")
    slices = {"all": np.ones(len(suite), bool), "regular": np.array(["regular" in t for t in tags]),
              "style": np.array(["style" in t for t in tags]), "stroke": np.array(["stroke" in t for t in tags]),
              "bitmap": np.array(["bitmap" in t for t in tags]),
              "transparent": np.array(["transparent" in t for t in tags]),
              **{f"style-{d}": np.array([f"style-{d}" in t for t in tags]) for d in (1, 7, 9)}}
    results: dict[str, dict] = {}
    with torch.inference_mode():
        for name in reg.available():
            model = reg.model(name)
            preds = model(x.unsqueeze(1)).argmax(1).numpy()
            preds[[p is None for p in pre]] = -1  # a drawing we called blank is a miss
            naive = model(x_naive.unsqueeze(1)).argmax(1).numpy()
            results[name] = {k: round(_accuracy(preds, labels, m), 4) for k, m in slices.items()}
            results[name]["naive_resize"] = round(_accuracy(naive, labels, slices["all"]), 4)
    # Latency of one drawing: preprocess + forward, median of `runs`, one model and every model.
    sample = [suite[i]["image"] for i in range(runs)]
    lat: dict[str, float] = {}
    for name in reg.available():
        model = reg.model(name)
        times = []
        for img in sample:
            t = time.perf_counter()
            predict_probs(model, preprocess(img).image)
            times.append((time.perf_counter() - t) * 1000)
        lat[name] = round(float(np.median(times)), 2)
    times = []
    models = [reg.model(m) for m in reg.available()]
    for img in sample:
        t = time.perf_counter()
        im = preprocess(img).image
        for m in models:
            predict_probs(m, im)
        times.append((time.perf_counter() - t) * 1000)
    lat_all = round(float(np.median(times)), 2)

    cols = ["all", "regular", "style", "stroke", "bitmap", "transparent", "style-1", "style-7", "style-9",
            "naive_resize"]
    print(f"{'model':<11}" + "".join(f"{c:>13}" for c in cols) + f"{'ms/drawing':>12}")
    for name, r in results.items():
        print(f"{name:<11}" + "".join(f"{r[c]:>13.2%}" for c in cols) + f"{lat[name]:>12.2f}")
    best = max(results, key=lambda k: results[k]["all"])
    print(f"best: {best} {results[best]['all']:.2%} (naive resize with the same model: "
          f"{results[best]['naive_resize']:.2%}); preprocess {pre_ms:.2f} ms/drawing mean; "
          f"all {len(models)} models side by side {lat_all:.2f} ms (median of {runs}); {blank} called blank")
    if args.record and not args.quick:
        for name, r in results.items():
            record_metric(name, SKETCH_METRIC, r["all"])
        print(f"recorded {SKETCH_METRIC} in {len(results)} checkpoints; the Draw tab now defaults to "
              f"{ModelRegistry('cpu').best(SKETCH_METRIC)}")
    print(json.dumps({"benchmark": "sketch_accuracy", "drawings": len(suite), "quick": args.quick, "best": best,
                      "models": results, "latency_ms": lat, "all_models_ms": lat_all,
                      "preprocess_ms_mean": round(pre_ms, 2), "called_blank": blank}))


if __name__ == "__main__":
    main()
