"""Trust (issue 21): honest confidence, "that's not a digit", and drawings that fool a model.

    python benchmarks/trust.py [--quick]

1. Calibration: ECE (15 bins) of every committed model before and after its temperature (checkpoint metadata,
   fitted on training data by `python -m mnist_demo.trust.fit`), on the MNIST test set and on the held-out pen
   writers (pen_data.HELD_OUT_WRITERS) drawn as the pad delivers them; the ensemble of calibrated members too.
2. Rejecting non-digits: the committed reject rule (checkpoints/reject.npz) on the fixed non-digit suite
   (nondigits.EVAL_SEED, 1,200 drawings) against the held-out writers' real digits: AUROC, the share flagged at
   the app's threshold of each, per kind. Baselines in the same run: each signal alone, and the plain maximum
   softmax probability of the best model before scaling.
3. "Fool it": the time of one attack (8 PGD steps at ε = 0.1 plus the smallest-ε search, batched) and of the whole
   Fool-it request (that, the ink-only attack, every model's answer) per model, median over held-out digits;
   the median smallest ε; baseline: the same search one ε at a time (not batched).
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import _common  # noqa: F401  (repo on sys.path, MNIST_DATA_DIR, PEN_DATA_DIR)
import numpy as np
import torch

from mnist_demo.checkpoints import load_checkpoint
from mnist_demo.data import load_mnist
from mnist_demo.drawing.nondigits import EVAL_SEED, EVAL_SIZE, nondigit_suite
from mnist_demo.drawing.pen_data import held_out_suite, pen_data_available
from mnist_demo.ensemble import ENSEMBLE
from mnist_demo.registry import ModelRegistry
from mnist_demo.trust import attack as atk
from mnist_demo.trust.calibration import ece
from mnist_demo.trust.fit import images, logits_of
from mnist_demo.trust.reject import auroc, load_rule

CNNS = ("cnn", "lenet5", "lenet5_fc", "cnn_fc3", "simple_cnn")


def _softmax(z: torch.Tensor, t: float = 1.0) -> np.ndarray:
    return (z.double() / t).softmax(1).numpy()


def calibration(reg: ModelRegistry, xt: torch.Tensor, yt: np.ndarray, xh: torch.Tensor, yh: np.ndarray) -> dict:
    """ECE before/after per model and split."""
    out, probs = {}, defaultdict(dict)
    for name in reg.available():
        raw, meta = load_checkpoint(name, "cpu")  # no temperature applied
        t = float(meta.get("temperature") or 1.0)
        out[name] = {"temperature": round(t, 4)}
        for split, x, y in (("mnist_test", xt, yt), ("pen_held_out", xh, yh)):
            z = logits_of(raw, x)
            before, after = _softmax(z), _softmax(z, t)
            probs[split][name] = (before, after)
            out[name][split] = {"before": round(ece(before, y), 5), "after": round(ece(after, y), 5),
                                "accuracy": round(float((after.argmax(1) == y).mean()), 5)}
    members = [m for m in reg.get(ENSEMBLE)[1]["members"]] if ENSEMBLE in reg.choices() else []
    if members:
        out[ENSEMBLE] = {"temperature": None}
        for split, y in (("mnist_test", yt), ("pen_held_out", yh)):
            b = np.mean([probs[split][m][0] for m in members], 0)
            a = np.mean([probs[split][m][1] for m in members], 0)
            out[ENSEMBLE][split] = {"before": round(ece(b, y), 5), "after": round(ece(a, y), 5),
                                    "accuracy": round(float((a.argmax(1) == y).mean()), 5)}
    return out


def rejection(reg: ModelRegistry, xh: torch.Tensor, bh: np.ndarray, suite: list[dict]) -> dict:
    """The committed rule on real held-out digits vs the non-digit suite."""
    rule = load_rule()
    if rule is None:
        return {"error": "no checkpoints/reject.npz: run python -m mnist_demo.trust.fit"}
    xn, bn = images(suite)
    kinds = np.array([s["kind"] for s in suite])
    models = {m: reg.model(m) for m in rule.models}
    t = time.perf_counter()
    sr = rule.raw_signals(models, xh)
    ms = 1000 * (time.perf_counter() - t) / len(xh)
    sn = rule.raw_signals(models, xn)
    real, fake = rule.score(sr), rule.score(sn)
    flag_real = (real >= rule.threshold) | bh  # a drawing read as blank gets no digit either
    flag_fake = (fake >= rule.threshold) | bn
    # Baselines: the usual "max softmax probability" of the best single model and of the ensemble, before
    # scaling, each at its own threshold flagging the same share of real digits as the rule.
    best = reg.best(single=True)
    raw, _ = load_checkpoint(best, "cpu")
    msp_r, msp_n = 1 - _softmax(logits_of(raw, xh)).max(1), 1 - _softmax(logits_of(raw, xn)).max(1)
    th = np.quantile(msp_r, 1 - float(flag_real.mean()))
    names = [*rule.models]
    return {"rule": {"signals": [f"{k} {m}" for k, m in rule.signals], "threshold": round(rule.threshold, 4),
                     "weights": [round(float(w), 3) for w in rule.weights]},
            "auroc": round(auroc(real, fake), 4),
            "flagged_real": round(float(flag_real.mean()), 4), "flagged_nondigits": round(float(flag_fake.mean()), 4),
            "flagged_by_kind": {k: round(float(flag_fake[kinds == k].mean()), 4) for k in dict.fromkeys(kinds)},
            "signal_auroc": {f"{k} {m}": round(auroc(sr[:, i], sn[:, i]), 4) for i, (k, m) in enumerate(rule.signals)},
            "baseline_msp": {"model": best, "auroc": round(auroc(msp_r, msp_n), 4),
                             "flagged_nondigits_same_real_rate": round(float((msp_n >= th).mean()), 4)},
            "score_ms_per_drawing_batched": round(ms, 3), "models_read": names,
            "blank": {"real": int(bh.sum()), "nondigits": int(bn.sum())},
            "n": {"real": len(xh), "nondigits": len(xn)}}


def attack_speed(reg: ModelRegistry, xh: torch.Tensor, n: int) -> dict:
    """Per model: median ms of one attack with its ε search, of the whole Fool-it request, and the median
    smallest ε; the unbatched search as the baseline (on fewer drawings)."""
    names = [*reg.available(), *([ENSEMBLE] if ENSEMBLE in reg.choices() else [])]
    everyone = {m: reg.model(m) for m in names}
    out = {}
    for name in names:
        model = reg.model(name)
        one, whole, eps, ink_eps, base = [], [], [], [], []
        for i in range(n):
            img = xh[i, 0].numpy()
            t = time.perf_counter()
            r = atk.attack(model, img, 0.1)
            one.append(time.perf_counter() - t)
            t = time.perf_counter()  # the Fool-it request: both attacks in the same batches, every model's answer
            r, ink = atk.attacks(model, img, 0.1)
            atk.transfer(everyone, r.adversarial)
            atk.transfer(everyone, img)
            whole.append(time.perf_counter() - t)
            eps.append(r.min_eps if r.min_eps is not None else np.inf)
            ink_eps.append(ink.min_eps if ink.min_eps is not None else np.inf)
            if i < max(2, n // 5):  # baseline: the grid one ε at a time, stopping at the first that flips
                t = time.perf_counter()
                for e in atk.SEARCH_EPS:
                    adv = atk.pgd(model, img, r.label, [e], steps=8)
                    with torch.inference_mode():
                        if int(model(adv).argmax()) != r.label:
                            break
                base.append(time.perf_counter() - t)
        out[name] = {"attack_ms": round(1000 * float(np.median(one)), 1),
                     "attack_max_ms": round(1000 * float(np.max(one)), 1),
                     "fool_it_ms": round(1000 * float(np.median(whole)), 1),
                     "fool_it_max_ms": round(1000 * float(np.max(whole)), 1),
                     "baseline_unbatched_ms": round(1000 * float(np.median(base)), 1),
                     "median_min_eps": float(np.median(eps)), "median_min_eps_ink": float(np.median(ink_eps)),
                     "fooled_at_0.1": round(float(np.mean(np.array(eps) <= 0.1)), 3)}
    return out


def main() -> None:
    """Run the three measurements and print the JSON line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every 5th held-out digit, 300 non-digits, 5 attacks")
    args = p.parse_args()
    from _common import preflight

    warning = preflight(None if pen_data_available() else "no pen data: set PEN_DATA_DIR")
    torch.set_num_threads(1)  # as the app serves (app.py --threads defaults to 1)
    t0 = time.perf_counter()
    held = held_out_suite()
    suite = nondigit_suite(EVAL_SEED, 300 if args.quick else EVAL_SIZE)
    if args.quick:
        held = held[::5]
    xh, bh = images(held)
    yh = np.array([s["label"] for s in held])
    test = load_mnist(train=False)
    xt, yt = test.float_images(), test.labels.numpy()
    print(f"data: {len(xt)} MNIST test, {len(held)} held-out pen digits, {len(suite)} non-digits "
          f"({time.perf_counter() - t0:.0f} s)")
    reg = ModelRegistry("cpu")
    cal = calibration(reg, xt, yt, xh[~bh], yh[~bh])
    print(f"{'model':<11}{'T':>7}  ECE MNIST test before → after   ECE held-out pen before → after")
    for name, r in cal.items():
        t = f"{r['temperature']:.3f}" if r["temperature"] else "  —"
        print(f"{name:<11}{t:>7}  {r['mnist_test']['before']:>8.2%} → {r['mnist_test']['after']:<8.2%}"
              f"        {r['pen_held_out']['before']:>8.2%} → {r['pen_held_out']['after']:.2%}")
    rej = rejection(reg, xh, bh, suite)
    print("reject: " + json.dumps(rej))
    speed = attack_speed(reg, xh[~bh], 5 if args.quick else 20)
    print(f"{'model':<11}{'attack ms':>10}{'max':>7}{'fool-it ms':>11}{'max':>7}{'unbatched':>10}"
          f"{'min ε':>7}{'ink ε':>7}")
    for name, r in speed.items():
        print(f"{name:<11}{r['attack_ms']:>10.0f}{r['attack_max_ms']:>7.0f}{r['fool_it_ms']:>11.0f}"
              f"{r['fool_it_max_ms']:>7.0f}{r['baseline_unbatched_ms']:>10.0f}{r['median_min_eps']:>7.3f}"
              f"{r['median_min_eps_ink']:>7.3f}")
    worst_ece = {s: max(cal[m][s]["after"] for m in CNNS if m in cal) for s in ("mnist_test", "pen_held_out")}
    floors = {"ece_cnn_max_after_le_1.5%": all(v <= 0.015 for v in worst_ece.values()),
              "auroc_ge_0.97": rej.get("auroc", 0) >= 0.97,
              "real_flagged_le_2%": rej.get("flagged_real", 1) <= 0.02,
              "nondigits_flagged_ge_85%": rej.get("flagged_nondigits", 0) >= 0.85,
              "attack_le_1s": all(r["fool_it_max_ms"] <= 1000 for r in speed.values())}
    print("floors: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in floors.items()))
    print(json.dumps({"benchmark": "trust", "quick": args.quick, "load_warning": warning or None,
                      "calibration": cal, "worst_cnn_ece_after": worst_ece, "reject": rej, "attack": speed,
                      "floors": floors}))


if __name__ == "__main__":
    main()
