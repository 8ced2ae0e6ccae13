"""How well each model reads real handwriting of writers it never saw: the held-out pen writers (issue 16).

    python benchmarks/pen_accuracy.py [--quick] [--record]

Every digit of the held-out writers (pen_data.HELD_OUT_WRITERS, ~1,500 digits of 6 people), drawn from their
real pen trajectories the way the app's pad delivers a drawing (280 or 800 px canvas, any legible brush,
25-90 % of the canvas, anywhere, slanted, on white or transparent), read through the app's preprocessing
and each model: the path of `predict_digit`. The naive resize of the same canvas is the baseline in the same
run. Reports top-1 per model (and the CNN ensemble), per held-out writer (a visitor is one writer: the worst
one matters), per digit, the top confusions, and the latency of one `predict_digit` call per model and of all
models side by side; ends with one JSON line. --record stores each model's top-1 in its checkpoint
(metrics["pen_top1"]) and the ensemble's in checkpoints/ensemble.json: `model="best"` then means the best
reader of real pen drawings.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import _common  # noqa: F401  (repo on sys.path, MNIST_DATA_DIR, PEN_DATA_DIR)
import numpy as np
import torch

from mnist_demo.checkpoints import record_metric
from mnist_demo.drawing.pen_data import HELD_OUT_WRITERS, held_out_suite
from mnist_demo.drawing.preprocess import naive_resize, preprocess
from mnist_demo.ensemble import ENSEMBLE, ensemble_members, record_ensemble_metric
from mnist_demo.predict import predict_digit
from mnist_demo.registry import PEN_METRIC, ModelRegistry


def main() -> None:
    """Score every model on the held-out writers and time single predictions."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every 5th drawing, 30 timing runs")
    p.add_argument("--record", action="store_true", help="store each model's top-1 (model='best' follows it)")
    args = p.parse_args()
    torch.set_num_threads(1)  # as the app serves predictions (app.py --threads defaults to 1)
    from _common import load_warning

    if load_warning():
        print(load_warning())
    t0 = time.perf_counter()
    suite = held_out_suite()
    if args.quick:
        suite = suite[::5]
    print(f"suite: {len(suite)} drawings of writers {HELD_OUT_WRITERS[0]}-{HELD_OUT_WRITERS[-1]} built in "
          f"{time.perf_counter() - t0:.1f} s")
    labels = np.array([s["label"] for s in suite])
    writers = np.array([s["writer"] for s in suite])
    pre = [preprocess(s["image"]) for s in suite]
    blank = [p is None for p in pre]
    x = torch.from_numpy(np.stack([p.image if p is not None else np.zeros((28, 28), np.float32) for p in pre]))
    x_naive = torch.from_numpy(np.stack([naive_resize(s["image"]) for s in suite]))
    reg = ModelRegistry("cpu")
    probs: dict[str, np.ndarray] = {}
    naive: dict[str, float] = {}
    with torch.inference_mode():
        for name in reg.available():
            model = reg.model(name)
            probs[name] = model(x.unsqueeze(1)).softmax(1).numpy()
            naive[name] = float((model(x_naive.unsqueeze(1)).argmax(1).numpy() == labels).mean())
    members = [m for m in ensemble_members() if m in probs]
    probs[ENSEMBLE] = np.mean([probs[m] for m in members], axis=0)
    results: dict[str, dict] = {}
    for name, pr in probs.items():
        pred = pr.argmax(1)
        pred[blank] = -1  # a drawing we called blank is a miss
        ok = pred == labels
        per_writer = {int(w): round(float(ok[writers == w].mean()), 4) for w in HELD_OUT_WRITERS}
        conf = Counter((int(t), int(q)) for t, q in zip(labels[~ok], pred[~ok]))
        results[name] = {"top1": round(float(ok.mean()), 4), "worst_writer": min(per_writer.values()),
                         "per_writer": per_writer,
                         "per_digit": {d: round(float(ok[labels == d].mean()), 4) for d in range(10)},
                         "top_confusions": [f"{t}->{q}: {c}" for (t, q), c in conf.most_common(5)],
                         "naive_resize": round(naive[name], 4) if name in naive else None}
    # Latency of one drawing through predict_digit (preprocess + forward): median of `runs`, per model and all.
    runs = 30 if args.quick else 200
    sample = [suite[i]["image"] for i in range(min(runs, len(suite)))]
    lat = {}
    for name in [*reg.available(), ENSEMBLE]:
        predict_digit(sample[0], name)  # load and warm
        times = []
        for img in sample:
            t = time.perf_counter()
            predict_digit(img, name)
            times.append((time.perf_counter() - t) * 1000)
        lat[name] = round(float(np.median(times)), 2)
    models = [reg.model(m) for m in reg.available()]
    times = []
    for img in sample:  # the Draw tab's side-by-side table: one preprocess, every model
        t = time.perf_counter()
        xi = torch.from_numpy(preprocess(img).image).view(1, 1, 28, 28)
        with torch.inference_mode():
            for m in models:
                m(xi).softmax(1)
        times.append((time.perf_counter() - t) * 1000)
    lat_all = round(float(np.median(times)), 2)

    print(f"{'model':<11}{'top-1':>8}{'worst writer':>14}{'naive':>8}{'ms':>7}  per writer / top confusions")
    for name, r in results.items():
        nv = f"{r['naive_resize']:.2%}" if r["naive_resize"] is not None else "—"
        pw = " ".join(f"w{w}:{a:.1%}" for w, a in r["per_writer"].items())
        print(f"{name:<11}{r['top1']:>8.2%}{r['worst_writer']:>14.2%}{nv:>8}{lat[name]:>7.2f}  {pw}")
        print(f"{'':<48}{', '.join(r['top_confusions'])}")
    best = max(results, key=lambda k: (results[k]["top1"], results[k]["worst_writer"]))
    print(f"best: {best} {results[best]['top1']:.2%} (worst writer {results[best]['worst_writer']:.2%}); "
          f"ensemble of {', '.join(members)}; all {len(models)} models side by side {lat_all:.2f} ms; "
          f"{sum(blank)} called blank")
    if args.record and not args.quick:
        for name in reg.available():
            record_metric(name, PEN_METRIC, results[name]["top1"])
        record_ensemble_metric(PEN_METRIC, results[ENSEMBLE]["top1"], members)
        print(f"recorded {PEN_METRIC}; model='best' is now {ModelRegistry('cpu').best(PEN_METRIC)}")
    print(json.dumps({"benchmark": "pen_accuracy", "drawings": len(suite), "writers": list(HELD_OUT_WRITERS),
                      "quick": args.quick, "best": best, "models": results, "latency_ms": lat,
                      "all_models_ms": lat_all, "called_blank": int(sum(blank))}))


if __name__ == "__main__":
    main()
