"""How many pen renders `lenet5_fc` can take without losing clean accuracy, chosen on validation data only.

    python benchmarks/pen_share.py [N ...]   (default 0 6000 9000 12000; ~1.5 min each on 2 quiet cores)

Train `lenet5_fc`'s best recipe on MNIST train[:50k] plus N renders of pen writers 1-20 (never 21-30), then
score it on MNIST train[50k:] (clean) and on writers 21-24's digits drawn as the pad delivers them (pen). Neither
test set is touched: the held-out writers 25-30 and the MNIST test set stay for the committed checkpoint's
figures. N = 0 (MNIST alone) is the baseline in the same run. Ends with one JSON line.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import _common  # noqa: F401  (repo on sys.path, MNIST_DATA_DIR, PEN_DATA_DIR)
import numpy as np
import torch

from mnist_demo.data import MnistSplit, load_mnist
from mnist_demo.drawing.pad_renders import followed_by
from mnist_demo.drawing.pen_data import held_out_suite, load_pen_digits
from mnist_demo.drawing.pen_renders import render_pen_set
from mnist_demo.drawing.preprocess import preprocess
from mnist_demo.engine import Scored, fit_and_score
from mnist_demo.models import get_spec

FIT_WRITERS, VAL_WRITERS = tuple(range(1, 21)), (21, 22, 23, 24)


def main() -> None:
    """Train once per N and print validation clean / pen accuracy."""
    shares = [int(a) for a in sys.argv[1:]] or [0, 6000, 9000, 12000]
    torch.set_num_threads(2)
    tr = load_mnist(train=True)
    fit_mnist, val_mnist = MnistSplit(tr.images[:50_000], tr.labels[:50_000]), MnistSplit(tr.images[50_000:],
                                                                                           tr.labels[50_000:])
    suite = held_out_suite(2025, VAL_WRITERS)
    y = np.array([s["label"] for s in suite])
    w = np.array([s["writer"] for s in suite])
    x = torch.from_numpy(np.stack([preprocess(s["image"]).image for s in suite])).unsqueeze(1)
    digits = load_pen_digits(FIT_WRITERS)
    spec = get_spec("lenet5_fc")
    rows = []
    for n in shares:
        train = fit_mnist if n == 0 else followed_by(fit_mnist, render_pen_set(digits, n, 11, 2))
        cfg = dataclasses.replace(spec.best_recipe, pen_renders=0, train_size=len(train))
        torch.manual_seed(cfg.seed)  # initial weights from the recipe's seed, as `python -m mnist_demo.train` does
        model, t0 = spec.build(), time.perf_counter()
        clean = next(ev.metrics["accuracy"] for ev in fit_and_score(model, cfg, train, val_mnist)
                     if isinstance(ev, Scored))
        with torch.inference_mode():
            ok = model.eval()(x).argmax(1).numpy() == y
        rows.append({"n": n, "val_clean": round(clean, 4), "val_pen": round(float(ok.mean()), 4),
                     "per_writer": {int(k): round(float(ok[w == k].mean()), 3) for k in VAL_WRITERS},
                     "seconds": round(time.perf_counter() - t0)})
        print(f"n={n:>6}: validation clean {clean:.2%}, pen {ok.mean():.2%} ({rows[-1]['seconds']} s)", flush=True)
    print(json.dumps({"benchmark": "pen_share", "model": "lenet5_fc", "fit_writers": [1, 20],
                      "val_writers": list(VAL_WRITERS), "rows": rows}))


if __name__ == "__main__":
    main()
