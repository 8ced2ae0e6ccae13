""""That's not a digit": one score per drawing from how far its features are from the training digits and how
unsure the models are, and the threshold the app flags at.

Signals, each computed from one forward pass of one committed CNN:
- `distance` of a model: log of the smallest Mahalanobis distance (shared covariance, per-class means) of the
  drawing's penultimate features to the training digits of any class;
- `energy` of a model: -logsumexp of its raw logits (low when some digit's evidence is strong);
- `msp` of a model: minus its largest softmax probability of the raw logits (low when it is sure).
In-distribution = the training writers' real pen digits rendered as the pad delivers them (pen_data.
TRAIN_WRITERS): statistics fitted on MNIST's own digits made pad drawings look far (measured, docs/benchmarks.md).
The score is a logistic combination of the standardised signals, weights fitted against the separate non-digit
fitting set (nondigits.FIT_SEED); the threshold is a quantile of held-back training-writer digits' scores.
The fitted rule lives in checkpoints/reject.npz (`python -m mnist_demo.trust.fit`).
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import CHECKPOINT_DIR
from ..fileio import atomic_write

FILE_NAME = "reject.npz"  # float32 statistics, compressed (~1 MB); loaded with allow_pickle=False


def class_statistics(features: np.ndarray, labels: np.ndarray, shrink: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(class means (10, D), precision (D, D)) of penultimate features: a shared covariance, shrunk towards its
    diagonal by `shrink` so it inverts even with dead units."""
    f = np.asarray(features, np.float64)
    y = np.asarray(labels)
    means = np.stack([f[y == c].mean(0) for c in range(10)])
    centred = f - means[y]
    cov = centred.T @ centred / max(len(f) - 10, 1)
    diag = np.diag(np.diag(cov)) + 1e-6 * np.eye(len(cov))
    cov = (1 - shrink) * cov + shrink * diag
    return means, np.linalg.inv(cov)


def mahalanobis(features: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(N,) smallest Mahalanobis distance of each feature row to any class mean."""
    f = np.asarray(features, np.float64)
    d = f[:, None, :] - np.asarray(means)[None]  # (N, 10, D)
    sq = np.einsum("ncd,de,nce->nc", d, np.asarray(precision), d)
    return np.sqrt(np.maximum(sq.min(1), 0.0))


def energy(logits: np.ndarray) -> np.ndarray:
    """(N,) -logsumexp of raw logits (N, 10)."""
    from scipy.special import logsumexp

    return -logsumexp(np.asarray(logits, np.float64), axis=1)


def max_softmax(logits: np.ndarray) -> np.ndarray:
    """(N,) minus the largest softmax probability of raw logits (N, 10): higher = less sure."""
    from scipy.special import softmax

    return -softmax(np.asarray(logits, np.float64), axis=1).max(1)


# The kinds that say "the models are unsure" (as opposed to "far from the digits"), each a function of raw logits.
DOUBT = {"energy": energy, "msp": max_softmax}
KINDS = ("distance", *DOUBT)


@torch.inference_mode()
def features_and_logits(model: nn.Module, x: torch.Tensor, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D), raw logits (N, 10)) of x (N, 1, 28, 28): the head applied to the features, so a
    temperature hook on the model does not change them."""
    fs, zs = [], []
    for i in range(0, len(x), batch):
        f = model.features(x[i:i + batch])
        fs.append(f.double().cpu())
        zs.append(model.head(f).double().cpu())
    return torch.cat(fs).numpy(), torch.cat(zs).numpy()


@dataclass(frozen=True)
class RejectRule:
    """A fitted reject rule: per-model feature statistics, signals, logistic weights and the threshold."""

    signals: list[tuple[str, str]]  # (kind, model) in KINDS x committed CNNs
    stats: dict[str, tuple[np.ndarray, np.ndarray]]  # model -> (means (10, D), precision (D, D))
    mu: np.ndarray  # (S,) standardisation of the signals
    sd: np.ndarray  # (S,)
    weights: np.ndarray  # (S,) over standardised signals
    bias: float
    threshold: float  # flag when score >= threshold
    info: dict[str, Any]

    @property
    def models(self) -> list[str]:
        """The models whose forward passes the signals need."""
        return list(dict.fromkeys(m for _, m in self.signals))

    def raw_signals(self, models: dict[str, nn.Module], x: torch.Tensor) -> np.ndarray:
        """(N, S) signals of images x (N, 1, 28, 28) in [0, 1]."""
        cols = {}
        for name in self.models:
            f, z = features_and_logits(models[name], x)
            if name in self.stats:
                cols[("distance", name)] = np.log(np.maximum(mahalanobis(f, *self.stats[name]), 1e-6))
            cols.update({(kind, name): score(z) for kind, score in DOUBT.items()})
        return np.stack([cols[s] for s in self.signals], 1)

    def score(self, sig: np.ndarray) -> np.ndarray:
        """(N,) score in (0, 1) for signals (N, S); higher = less like a digit."""
        z = (np.asarray(sig, np.float64) - self.mu) / self.sd
        return 1.0 / (1.0 + np.exp(-(z @ self.weights + self.bias)))

    def contributions(self, sig: np.ndarray) -> dict[str, float]:
        """Each kind of signal's push towards 'not a digit' for one drawing (sum of weight x standardised value)."""
        z = (np.asarray(sig, np.float64).reshape(-1) - self.mu) / self.sd
        out = dict.fromkeys(KINDS, 0.0)
        for (kind, _), w, v in zip(self.signals, self.weights, z):
            out[kind] += float(w * v)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for checkpoints/reject.npz: the statistics in float32, everything else as one JSON string."""
        meta = {"signals": [list(x) for x in self.signals], "mu": self.mu.tolist(), "sd": self.sd.tolist(),
                "weights": self.weights.tolist(), "bias": self.bias, "threshold": self.threshold, "info": self.info}
        out = {"meta": np.array(json.dumps(meta))}
        for m, (mu, pr) in self.stats.items():
            out[f"means.{m}"], out[f"precision.{m}"] = mu.astype(np.float32), pr.astype(np.float32)
        return out

    @classmethod
    def from_arrays(cls, arrays: Any) -> RejectRule:
        """The rule stored by to_arrays (an npz file's mapping); ValueError when anything is wrong."""
        try:
            d = json.loads(str(arrays["meta"]))
            names = [k.split(".", 1)[1] for k in arrays if k.startswith("means.")]
            d["stats"] = {m: {"means": arrays[f"means.{m}"], "precision": arrays[f"precision.{m}"]} for m in names}
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise ValueError(f"reject rule is malformed ({type(exc).__name__}: {exc})") from None
        return cls.from_json(d)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RejectRule:
        """The rule from plain values (to_arrays' JSON plus the statistics); ValueError when something is missing,
        misshapen or not finite."""
        try:
            sigs = [(str(k), str(m)) for k, m in d["signals"]]
            stats = {str(m): (np.asarray(v["means"], np.float64), np.asarray(v["precision"], np.float64))
                     for m, v in d["stats"].items()}
            rule = cls(sigs, stats, np.asarray(d["mu"], np.float64), np.asarray(d["sd"], np.float64),
                       np.asarray(d["weights"], np.float64), float(d["bias"]), float(d["threshold"]),
                       dict(d.get("info", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"reject rule is malformed ({type(exc).__name__}: {exc})") from None
        n = len(sigs)
        ok = (n > 0 and all(k in KINDS for k, _ in sigs) and all(m in stats for k, m in sigs if k == "distance")
              and rule.mu.shape == rule.sd.shape == rule.weights.shape == (n,) and (rule.sd > 0).all()
              and math.isfinite(rule.threshold) and math.isfinite(rule.bias)
              and all(mu.ndim == 2 and mu.shape[0] == 10 and pr.shape == (mu.shape[1],) * 2
                      and np.isfinite(mu).all() and np.isfinite(pr).all() for mu, pr in stats.values())
              and all(np.isfinite(a).all() for a in (rule.mu, rule.sd, rule.weights)))
        if not ok:
            raise ValueError("reject rule is malformed (shapes, kinds or non-finite values)")
        return rule


def rule_path(directory: Path | None = None) -> Path:
    """Where the fitted rule is committed."""
    return Path(directory or CHECKPOINT_DIR) / FILE_NAME


def save_rule(rule: RejectRule, directory: Path | None = None) -> Path:
    """Write checkpoints/reject.npz atomically."""
    return atomic_write(rule_path(directory), lambda fh: np.savez_compressed(fh, **rule.to_arrays()))


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> RejectRule:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"unreadable reject rule ({type(exc).__name__})") from None
    return RejectRule.from_arrays(arrays)


def load_rule(directory: Path | None = None) -> RejectRule | None:
    """The committed rule, or None when there is none or it is unreadable (the app then never flags)."""
    p = rule_path(directory)
    try:
        return _load(str(p), p.stat().st_mtime_ns)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Verdict:
    """Whether one drawing is flagged, its score, and why (a short phrase), for the Draw tab."""

    flagged: bool
    score: float
    reason: str
    unlike_digits: bool  # the distance to the training digits is the main reason (else the models' doubt)


def verdict(rule: RejectRule, sig: np.ndarray, member_digits: dict[str, int]) -> Verdict:
    """The rule's answer for one drawing's signals (S,) and each model's top-1 digit (for the reason)."""
    score = float(rule.score(np.asarray(sig).reshape(1, -1))[0])
    parts = rule.contributions(sig)
    votes = list(member_digits.values())
    top = max(set(votes), key=votes.count) if votes else None
    split = f" (the models say {', '.join(str(v) for v in sorted(set(votes)))})" if len(set(votes)) > 1 else ""
    doubt = sum(parts[k] for k in DOUBT)
    if parts["distance"] >= doubt:
        reason = "it is far from every digit the models were trained on" + split
    else:
        reason = f"no digit's evidence is strong{split or (f' (the best guess is {top})' if top is not None else '')}"
    return Verdict(score >= rule.threshold, score, reason, parts["distance"] >= doubt)


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive (non-digit) scores above a random negative
    (real digit), ties counting half."""
    neg, pos = np.asarray(negatives, np.float64), np.asarray(positives, np.float64)
    if not len(neg) or not len(pos):
        raise ValueError("auroc needs at least one negative and one positive")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([neg, pos]))  # ties get their average rank
    return float((ranks[len(neg):].sum() - len(pos) * (len(pos) + 1) / 2) / (len(neg) * len(pos)))
