"""Fit what the Trust features need, on training data only, and record it:

    python -m mnist_demo.trust.fit [--no-write]

1. a temperature per committed classifier (stored in its checkpoint: "temperature", "calibration");
2. the reject rule (checkpoints/reject.json): feature statistics of the training digits, logistic weights and
   the threshold;
3. the Trust tab's reliability diagrams (mnist_demo/results/calibration.json): before and after scaling, on the
   MNIST test set and on the held-out pen writers (evaluation only: nothing is fitted on them).

The validation data is *seen* data: every committed model trained on all 60,000 MNIST training digits and on
renders of the training writers' pen digits, so there is no unseen training split. The temperature is fitted on
a seeded 10,000 of those MNIST digits with the training augmentation applied (harder than the digits as
stored, closer to what an unseen digit looks like to the model) plus fresh renders of the training writers
(pen_data.TRAIN_WRITERS, a seed the training renders did not use). Needs MNIST and the pen data.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

from ..checkpoints import checkpoint_path, load_checkpoint
from ..config import CHECKPOINT_DIR
from ..data import load_mnist
from ..drawing.nondigits import FIT_SEED, FIT_SIZE, nondigit_suite
from ..drawing.pen_data import HELD_OUT_WRITERS, TRAIN_WRITERS, held_out_suite
from ..drawing.preprocess import preprocess
from ..ensemble import ensemble_members
from ..fileio import atomic_write
from ..models import CLASSIFIERS
from ..recorded_run import checkpoint_sha
from .calibration import CALIBRATION_PATH, apply_temperature, fit_temperature, record_temperature, reliability
from .reject import SIGNALS, RejectRule, auroc, class_statistics, mahalanobis, save_rule, signals

VAL_SEED = 2121  # the MNIST subset and the training writers' renders (not the seeds the training renders used)
VAL_MNIST = 10_000
FLAG_RATE = 0.01  # the threshold flags this share of the training writers' real digits


def images(suite: list[dict]) -> tuple[torch.Tensor, np.ndarray]:
    """(x (N, 1, 28, 28) through the app's preprocessing, blank mask (N,)) of rendered pad images."""
    pre = [preprocess(s["image"]) for s in suite]
    blank = np.array([p is None for p in pre])
    x = np.stack([p.image if p is not None else np.zeros((28, 28), np.float32) for p in pre])
    return torch.from_numpy(x).unsqueeze(1), blank


def mnist_validation() -> tuple[torch.Tensor, np.ndarray]:
    """A seeded 10,000 MNIST training digits with the training augmentation (the pad recipe's), and labels."""
    from ..augment import augment_batch
    from ..models import PAD_AUGMENT

    tr = load_mnist(train=True)
    gen = torch.Generator().manual_seed(VAL_SEED)
    idx = torch.randperm(len(tr), generator=gen)[:VAL_MNIST]
    x, y = tr.images[idx].unsqueeze(1).float() / 255, tr.labels[idx]
    return augment_batch(x, y, PAD_AUGMENT, gen), y.numpy()


@torch.inference_mode()
def logits_of(model: torch.nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """(N, 10) logits in batches."""
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


@torch.inference_mode()
def features_of(model: torch.nn.Module, x: torch.Tensor, batch: int = 1000) -> np.ndarray:
    """(N, D) penultimate features in batches."""
    return torch.cat([model.features(x[i:i + batch]) for i in range(0, len(x), batch)]).double().numpy()


def _softmax(z: torch.Tensor, t: float = 1.0) -> np.ndarray:
    return (z.double() / t).softmax(1).numpy()


def main(argv: list[str] | None = None) -> None:
    """Fit temperatures and the reject rule; write them and the reliability diagrams."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-write", action="store_true", help="print what would be recorded, write nothing")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    xm, ym = mnist_validation()
    pen_fit = held_out_suite(VAL_SEED, TRAIN_WRITERS)[::2]
    xp, bp = images(pen_fit)
    yp = np.array([s["label"] for s in pen_fit])
    xp, yp = xp[~bp], yp[~bp]
    test = load_mnist(train=False)
    xt, yt = test.float_images(), test.labels.numpy()
    held = held_out_suite()
    xh, bh = images(held)
    yh = np.array([s["label"] for s in held])
    xh, yh = xh[~bh], yh[~bh]
    print(f"data: {len(xm)} MNIST training digits (augmented) + {len(xp)} training-writer renders; "
          f"evaluation {len(xt)} MNIST test, {len(xh)} held-out pen ({time.perf_counter() - t0:.0f} s)")

    models = {n: load_checkpoint(n, "cpu")[0] for n in CLASSIFIERS if checkpoint_path(n).is_file()}
    temps, report, logits = {}, {}, {}
    for name, model in models.items():
        zv = torch.cat([logits_of(model, xm), logits_of(model, xp)])
        t = fit_temperature(zv, np.concatenate([ym, yp]))
        temps[name] = t
        logits[name] = {"test": logits_of(model, xt), "pen": logits_of(model, xh)}
        report[name] = {"temperature": round(t, 4)}
        for split, y in (("test", yt), ("pen", yh)):
            z = logits[name][split]
            report[name][split] = {"before": reliability(_softmax(z), y).as_dict(),
                                   "after": reliability(_softmax(z, t), y).as_dict()}
        print(f"{name:<11} T={t:.3f}  ECE test {report[name]['test']['before']['ece']:.2%} -> "
              f"{report[name]['test']['after']['ece']:.2%}   held-out pen {report[name]['pen']['before']['ece']:.2%}"
              f" -> {report[name]['pen']['after']['ece']:.2%}")
    members = [m for m in ensemble_members() if m in models]
    ens = {"temperature": None}
    for split, y in (("test", yt), ("pen", yh)):
        before = np.mean([_softmax(logits[m][split]) for m in members], 0)
        after = np.mean([_softmax(logits[m][split], temps[m]) for m in members], 0)
        ens[split] = {"before": reliability(before, y).as_dict(), "after": reliability(after, y).as_dict()}
    report["ensemble"] = ens
    print(f"ensemble    ECE test {ens['test']['before']['ece']:.2%} -> {ens['test']['after']['ece']:.2%}   "
          f"held-out pen {ens['pen']['before']['ece']:.2%} -> {ens['pen']['after']['ece']:.2%}")
    for name, model in models.items():
        apply_temperature(model, temps[name])
    rule = fit_rule(models, members, xm, ym, xp, yp)
    print(f"reject rule: features of {rule.feature_model}, weights "
          + ", ".join(f"{s} {w:+.2f}" for s, w in zip(SIGNALS, rule.weights)) + f", threshold {rule.threshold:.3f}; "
          + json.dumps(rule.info["fit"]))
    if args.no_write:
        return
    for name, t in temps.items():
        record_temperature(name, t, {"fitted_on": f"{VAL_MNIST} augmented MNIST training digits + {len(xp)} "
                                     "training-writer pen renders", "seed": VAL_SEED})
    save_rule(rule)
    shas = {n: checkpoint_sha(checkpoint_path(n)) for n in models}
    data = {"models": report, "sha": shas, "bins": 10, "ece_bins": 15,
            "splits": {"test": "MNIST test set (10,000)", "pen": f"held-out pen writers {HELD_OUT_WRITERS[0]}-"
                       f"{HELD_OUT_WRITERS[-1]} ({len(xh)} drawings)"}}
    atomic_write(CALIBRATION_PATH, lambda fh: fh.write(json.dumps(data, separators=(",", ":")) + "\n"), text=True)
    print(f"wrote temperatures into {CHECKPOINT_DIR}, {rule_file()} and {CALIBRATION_PATH}; now run "
          "python -m mnist_demo.recorded_run --confusions (the checkpoint files changed)")


def rule_file() -> str:
    """checkpoints/reject.json, for messages."""
    from .reject import rule_path

    return str(rule_path())


def member_signals(models: dict[str, torch.nn.Module], members: list[str], feature_model: str,
                   means: np.ndarray, precision: np.ndarray, x: torch.Tensor) -> np.ndarray:
    """(N, 3) signals of images x with calibrated models."""
    probs = np.stack([_softmax(logits_of(models[m], x)) for m in members])
    dist = mahalanobis(features_of(models[feature_model], x), means, precision)
    return signals(probs, dist)


def fit_rule(models: dict[str, torch.nn.Module], members: list[str], xm: torch.Tensor, ym: np.ndarray,
             xp: torch.Tensor, yp: np.ndarray) -> RejectRule:
    """Choose the feature model and fit the reject rule: class statistics on the MNIST validation digits and
    half of the training writers' renders; weights on the other half against the non-digit fitting set; the
    threshold at FLAG_RATE of that other half."""
    from sklearn.linear_model import LogisticRegression

    half = np.arange(len(xp)) % 2 == 0
    xs, ys = torch.cat([xm, xp[half]]), np.concatenate([ym, yp[half]])  # statistics
    xr = xp[~half]  # real digits for the weights and the threshold
    xn, bn = images(nondigit_suite(FIT_SEED, FIT_SIZE))
    xn = xn[~bn]
    best: dict[str, Any] = {}
    for name in members:
        means, prec = class_statistics(features_of(models[name], xs), ys)
        a = auroc(mahalanobis(features_of(models[name], xr), means, prec),
                  mahalanobis(features_of(models[name], xn), means, prec))
        if a > best.get("auroc", -1):
            best = {"name": name, "auroc": a, "means": means, "precision": prec}
    sr = member_signals(models, members, best["name"], best["means"], best["precision"], xr)
    sn = member_signals(models, members, best["name"], best["means"], best["precision"], xn)
    s = np.concatenate([sr, sn])
    y = np.r_[np.zeros(len(sr)), np.ones(len(sn))]
    mu, sd = s.mean(0), s.std(0) + 1e-9
    lr = LogisticRegression(class_weight="balanced", C=1.0).fit((s - mu) / sd, y)
    rule = RejectRule(best["name"], members, best["means"], best["precision"], mu, sd, lr.coef_[0].astype(float),
                      float(lr.intercept_[0]), 0.5, {})
    real, fake = rule.score(sr), rule.score(sn)
    threshold = float(np.quantile(real, 1 - FLAG_RATE))
    per_signal = {sig: round(auroc(sr[:, i], sn[:, i]), 4) for i, sig in enumerate(SIGNALS)}
    info = {"fit": {"feature_model_auroc": round(best["auroc"], 4), "signal_auroc": per_signal,
                    "combined_auroc": round(auroc(real, fake), 4), "real_digits": len(sr),
                    "nondigits": len(sn), "flag_rate_real": FLAG_RATE,
                    "flagged_nondigits": round(float((fake >= threshold).mean()), 4)},
            "fitted_on": "MNIST training digits (augmented) and training writers' pen renders (real digits), the "
                         f"non-digit fitting set (seed {FIT_SEED}); in-distribution = the training digits"}
    return RejectRule(rule.feature_model, members, rule.means, rule.precision, mu, sd, rule.weights, rule.bias,
                      threshold, info)


if __name__ == "__main__":
    main()
