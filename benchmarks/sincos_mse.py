"""sin→cos RNN quality: mean MSE of the last 10 steps, median over seeds 0–4, seed settings vs our better preset.

    python benchmarks/sincos_mse.py [--quick] [--preset CELL,HIDDEN,LR,DECAY ...] [--threads N]

The seed settings are seed 002's (RNN 32, Adam lr 0.02, 100 windows of 10 points); "better" is
mnist_demo.experiments.sincos.PRESETS["better"]. --preset adds candidates (e.g. gru,32,0.02,0.98). MSE does not
depend on the machine; the seconds are for information only. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import _common
import torch

from mnist_demo.config import SinCosConfig
from mnist_demo.experiments.sincos import PRESETS, fit_losses, last10_mse, validate


def parse_preset(text: str) -> SinCosConfig:
    """'gru,32,0.02,0.98' -> SinCosConfig(cell='gru', hidden=32, lr=0.02, lr_decay=0.98)."""
    cell, hidden, lr, decay = text.split(",")
    return validate(SinCosConfig(cell=cell, hidden=int(hidden), lr=float(lr), lr_decay=float(decay)))


def measure(cfg: SinCosConfig, seeds: list[int]) -> dict:
    """Per-seed last-10 MSE, their median and max, and seconds per fit."""
    t0 = time.perf_counter()
    per_seed = [last10_mse(fit_losses(dataclasses.replace(cfg, seed=s))) for s in seeds]
    return {"config": dataclasses.asdict(cfg), "per_seed": [round(v, 6) for v in per_seed],
            "median": round(statistics.median(per_seed), 6), "max": round(max(per_seed), 6),
            "seconds_per_fit": round((time.perf_counter() - t0) / len(seeds), 3)}


def main(argv: list[str] | None = None) -> dict:
    """Run the comparison, print a table and one JSON line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="seeds 0-1 only (smoke run)")
    p.add_argument("--preset", action="append", default=[], help="extra candidate CELL,HIDDEN,LR,DECAY")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: these 1×10 sequences gain nothing "
                                                           "from more, and two stall on a busy CPU)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    warn = _common.load_warning()
    if warn:
        print(warn)
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    configs = {"seed": PRESETS["seed"], "better": PRESETS["better"]}
    configs.update({f"candidate {t}": parse_preset(t) for t in args.preset})
    results = {name: measure(cfg, seeds) for name, cfg in configs.items()}
    print(f"last-10-step mean MSE over seeds {seeds}")
    for name, r in results.items():
        c = r["config"]
        print(f"  {name:28s} {c['cell']} {c['hidden']:>3} lr {c['lr']:<6g} ×{c['lr_decay']:<5g} "
              f"median {r['median']:.6f}  max {r['max']:.6f}  per seed {r['per_seed']}  ({r['seconds_per_fit']} s/fit)")
    ratio = results["seed"]["median"] / max(results["better"]["median"], 1e-12)
    print(f"better preset: {ratio:.0f}× lower median MSE than the seed settings "
          f"(bounds: seed < 0.05 {'ok' if results['seed']['median'] < 0.05 else 'MISSED'}, "
          f"better < 0.005 {'ok' if results['better']['median'] < 0.005 else 'MISSED'})")
    out = {"benchmark": "sincos_mse", "seeds": seeds, "quick": args.quick, "threads": args.threads,
           "seed_median": results["seed"]["median"], "better_median": results["better"]["median"],
           "seed_over_better": round(ratio, 1), "results": results, "load_warning": warn or None}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
