"""Fit what the Trust features need, on training data only, and record it:

    python -m mnist_demo.trust.fit [--no-write]

1. a temperature per committed classifier (stored in its checkpoint: "temperature", "calibration");
2. the reject rule (checkpoints/reject.npz): feature statistics of the training digits, logistic weights and
   the threshold;
3. the Trust tab's reliability diagrams (mnist_demo/results/calibration.json): before and after scaling, on the
   MNIST test set and on the held-out pen writers (evaluation only: nothing is fitted on them).

The validation data is *seen* data: every committed model trained on all 60,000 MNIST training digits (and most
on renders of the training writers' pen digits), so there is no unseen training split. The temperature is fitted
on a seeded 10,000 of those MNIST digits plus fresh renders of the training writers (pen_data.TRAIN_WRITERS, a
seed the training renders did not use), the two domains weighted equally. (With the training augmentation
applied to the MNIST part, the 8-unit MLP, far less accurate on augmented digits, got T = 2.1 and an ECE of
16 % on the test set; the CNNs' temperatures moved by under 0.05.) Needs MNIST and the pen data.
"""

from __future__ import annotations

import argparse
import json
import time

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
from .calibration import CALIBRATION_PATH, fit_temperature, record_temperature, reliability
from .reject import DOUBT, RejectRule, auroc, class_statistics, features_and_logits, mahalanobis, save_rule

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
    """A seeded 10,000 MNIST training digits (N, 1, 28, 28) in [0, 1], and their labels."""
    tr = load_mnist(train=True)
    idx = torch.randperm(len(tr), generator=torch.Generator().manual_seed(VAL_SEED))[:VAL_MNIST]
    return tr.images[idx].unsqueeze(1).float() / 255, tr.labels[idx].numpy()


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
    p.add_argument("--rule-only", action="store_true", help="refit only the reject rule (temperatures as they are)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if args.rule_only:
        pen = held_out_suite(VAL_SEED, TRAIN_WRITERS)
        xp, bp = images(pen)
        yp = np.array([s["label"] for s in pen])
        models = {n: load_checkpoint(n, "cpu")[0] for n in CLASSIFIERS if checkpoint_path(n).is_file()}
        rule = fit_rule(models, xp[~bp], yp[~bp], np.array([s["writer"] for s in pen])[~bp])
        print(json.dumps(rule.info["fit"]))
        if not args.no_write:
            print(f"wrote {save_rule(rule)}")
        return
    xm, ym = mnist_validation()
    pen_fit = held_out_suite(VAL_SEED, TRAIN_WRITERS)  # every training writer's digit, rendered once
    xp, bp = images(pen_fit)
    yp = np.array([s["label"] for s in pen_fit])
    wp = np.array([s["writer"] for s in pen_fit])[~bp]
    xp, yp = xp[~bp], yp[~bp]
    test = load_mnist(train=False)
    xt, yt = test.float_images(), test.labels.numpy()
    held = held_out_suite()
    xh, bh = images(held)
    yh = np.array([s["label"] for s in held])
    xh, yh = xh[~bh], yh[~bh]
    print(f"data: {len(xm)} MNIST training digits + {len(xp)} training-writer renders; "
          f"evaluation {len(xt)} MNIST test, {len(xh)} held-out pen ({time.perf_counter() - t0:.0f} s)")

    models = {n: load_checkpoint(n, "cpu")[0] for n in CLASSIFIERS if checkpoint_path(n).is_file()}
    temps, report, logits = {}, {}, {}
    for name, model in models.items():
        copies = max(1, round(len(xm) / len(xp)))  # the two domains weigh the same
        zp = logits_of(model, xp)
        t = fit_temperature(torch.cat([logits_of(model, xm), *[zp] * copies]), np.concatenate([ym, *[yp] * copies]))
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
    rule = fit_rule(models, xp, yp, wp)
    print("reject rule: weights " + ", ".join(f"{k} {m} {w:+.2f}" for (k, m), w in zip(rule.signals, rule.weights))
          + f", threshold {rule.threshold:.3f}; " + json.dumps(rule.info["fit"]))
    if args.no_write:
        return
    for name, t in temps.items():
        record_temperature(name, t, {"fitted_on": f"{VAL_MNIST} MNIST training digits + {len(xp)} training-writer "
                                     "pen renders, weighted equally", "seed": VAL_SEED})
    save_rule(rule)
    shas = {n: checkpoint_sha(checkpoint_path(n)) for n in models}
    data = {"models": report, "sha": shas, "bins": 10, "ece_bins": 15,
            "splits": {"test": "MNIST test set (10,000)", "pen": f"held-out pen writers {HELD_OUT_WRITERS[0]}-"
                       f"{HELD_OUT_WRITERS[-1]} ({len(xh)} drawings)"}}
    atomic_write(CALIBRATION_PATH, lambda fh: fh.write(json.dumps(data, separators=(",", ":")) + "\n"), text=True)
    print(f"wrote temperatures into {CHECKPOINT_DIR}, {rule_file()} and {CALIBRATION_PATH}; now run "
          "python -m mnist_demo.recorded_run --confusions (the checkpoint files changed)")


def rule_file() -> str:
    """checkpoints/reject.npz, for messages."""
    from .reject import rule_path

    return str(rule_path())


# Signals (measured on the training writers and the fitting set, docs/benchmarks.md): every committed classifier's
# energy and confidence, and the feature distance of all but `cnn` (its 1,568-d covariance alone is 10 MB). With
# only cnn_fc3/lenet5/lenet5_fc distances and cnn_fc3's energy, 80.9 % of the non-digit suite was flagged at 1.8 %
# of real digits; with these 20 signals 86.8 % at 1.8 % (letters 73 -> 78 %, crossed-out digits 63 -> 78 %).
DISTANCE_MODELS = ("cnn_fc3", "lenet5", "lenet5_fc", "simple_cnn", "lstm", "mlp")
DOUBT_MODELS = ("cnn_fc3", "lenet5", "lenet5_fc", "cnn", "simple_cnn", "lstm", "mlp")


FOLDS = 3  # writer folds: every training writer's digits are scored with statistics fitted on the other writers


def fit_rule(models: dict[str, torch.nn.Module], xp: torch.Tensor, yp: np.ndarray, writers: np.ndarray) -> RejectRule:
    """The reject rule. Class statistics of the app's rule: all training writers' renders. Weights and threshold:
    from out-of-fold signals, each training writer's digits measured against statistics fitted on the other
    writers' (FOLDS folds of writers), so the threshold sees digits of writers its statistics never met, as a
    visitor's are. (Statistics and threshold on the same writers flagged 1 % of them but 4 % of the held-out
    writers, benchmarks/trust.py --quick.) Logistic weights: those signals against the non-digit fitting set;
    the threshold flags FLAG_RATE of the out-of-fold training-writer digits."""
    from sklearn.linear_model import LogisticRegression

    sigs = [*(("distance", m) for m in DISTANCE_MODELS if m in models),
            *((k, m) for m in DOUBT_MODELS if m in models for k in DOUBT)]
    fit_set = nondigit_suite(FIT_SEED, FIT_SIZE)
    xn, bn = images(fit_set)
    xn = xn[~bn]
    kinds = np.array([s["kind"] for s in fit_set])[~bn]
    fold = np.searchsorted(np.array(TRAIN_WRITERS), writers) % FOLDS  # writer i goes to fold i mod FOLDS
    passes = {m: (features_and_logits(models[m], xp), features_and_logits(models[m], xn))  # one per model
              for m in dict.fromkeys(m for _, m in sigs)}
    cols_r, cols_n, stats = [], [], {}
    for kind, name in sigs:
        (fr, zr), (fn, zn) = passes[name]
        if kind in DOUBT:
            cols_r.append(DOUBT[kind](zr))
            cols_n.append(DOUBT[kind](zn))
            continue
        stats[name] = class_statistics(fr, yp)  # the app's statistics: every training writer
        oof = np.zeros(len(xp))
        for k in range(FOLDS):
            out = fold == k
            oof[out] = mahalanobis(fr[out], *class_statistics(fr[~out], yp[~out]))
        cols_r.append(np.log(np.maximum(oof, 1e-6)))
        cols_n.append(np.log(np.maximum(mahalanobis(fn, *stats[name]), 1e-6)))
    sr, sn = np.stack(cols_r, 1), np.stack(cols_n, 1)
    s = np.concatenate([sr, sn])
    mu, sd = s.mean(0), s.std(0) + 1e-9
    y = np.r_[np.zeros(len(sr)), np.ones(len(sn))]
    lr = LogisticRegression(class_weight="balanced", C=1.0, max_iter=2000).fit((s - mu) / sd, y)
    rule = RejectRule(sigs, stats, mu, sd, lr.coef_[0].astype(float), float(lr.intercept_[0]), 0.5, {})
    real, fake = rule.score(sr), rule.score(sn)
    threshold = float(np.quantile(real, 1 - FLAG_RATE))
    info = {"fit": {"signal_auroc": {f"{k} {m}": round(auroc(sr[:, i], sn[:, i]), 4) for i, (k, m) in enumerate(sigs)},
                    "combined_auroc": round(auroc(real, fake), 4), "real_digits": len(sr),
                    "nondigits": len(sn), "flag_rate_real": FLAG_RATE,
                    "flagged_nondigits": round(float((fake >= threshold).mean()), 4),
                    "flagged_by_kind": {k: round(float((fake[kinds == k] >= threshold).mean()), 3)
                                        for k in dict.fromkeys(kinds)}},
            "in_distribution": f"real pen digits as the pad delivers them: the training writers ({len(xp)} renders, "
                               f"seed {VAL_SEED})",
            "fitted_on": f"weights: out-of-fold training-writer signals ({FOLDS} writer folds) vs the non-digit "
                         f"fitting set (seed {FIT_SEED}); threshold: {FLAG_RATE:.0%} of those digits flagged"}
    return RejectRule(sigs, stats, mu, sd, rule.weights, rule.bias, threshold, info)


if __name__ == "__main__":
    main()
