""""That's not a digit": one score per drawing from calibrated confidence, model disagreement and the distance
of the drawing's features to the training digits, and the threshold the app flags at.

Signals (all computed from what the Draw tab already has, plus one forward pass for the features):
- `doubt`: 1 - the ensemble's calibrated top-1 probability;
- `disagree`: the share of the ensemble's members whose top-1 differs from the ensemble's;
- `distance`: log of the smallest Mahalanobis distance (shared covariance, per-class means) of the drawing's
  penultimate features in `feature_model` to the training digits of any class.
The score is a logistic combination of the three, weights fitted on training data (training digits and
training writers' pen renders against the separate non-digit fitting set, nondigits.FIT_SEED); the threshold is
a quantile of the training writers' scores. The fitted rule lives in checkpoints/reject.json
(`python -m mnist_demo.trust.fit`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import CHECKPOINT_DIR
from ..fileio import atomic_write

FILE_NAME = "reject.json"
SIGNALS: tuple[str, ...] = ("doubt", "disagree", "distance")


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


def signals(member_probs: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """(N, 3) doubt, disagree, log distance from members' calibrated probabilities (M, N, 10) and distances (N,)."""
    p = np.asarray(member_probs, np.float64)
    mean = p.mean(0)  # the ensemble: the members' average
    top = mean.argmax(1)
    doubt = 1.0 - mean.max(1)
    disagree = (p.argmax(2) != top[None]).mean(0)
    return np.stack([doubt, disagree, np.log(np.maximum(distance, 1e-6))], 1)


@dataclass(frozen=True)
class RejectRule:
    """A fitted reject rule: feature statistics, logistic weights over SIGNALS, and the flagging threshold."""

    feature_model: str
    members: list[str]
    means: np.ndarray  # (10, D)
    precision: np.ndarray  # (D, D)
    mu: np.ndarray  # (3,) standardisation of the signals
    sd: np.ndarray  # (3,)
    weights: np.ndarray  # (3,) over standardised SIGNALS
    bias: float
    threshold: float  # flag when score >= threshold
    info: dict[str, Any]

    def score(self, sig: np.ndarray) -> np.ndarray:
        """(N,) score in (0, 1) for signals (N, 3); higher = less like a digit."""
        z = (np.asarray(sig, np.float64) - self.mu) / self.sd
        return 1.0 / (1.0 + np.exp(-(z @ self.weights + self.bias)))

    def contributions(self, sig: np.ndarray) -> dict[str, float]:
        """Each signal's push towards 'not a digit' for one drawing (weight x standardised value)."""
        z = (np.asarray(sig, np.float64).reshape(-1) - self.mu) / self.sd
        return {s: float(w * v) for s, w, v in zip(SIGNALS, self.weights, z)}

    def distance(self, model: nn.Module, x: torch.Tensor) -> np.ndarray:
        """(N,) Mahalanobis distance of `model.features(x)` (x (N, 1, 28, 28) in [0, 1]) to the training digits."""
        with torch.inference_mode():
            f = model.features(x).double().cpu().numpy()
        return mahalanobis(f, self.means, self.precision)

    def to_json(self) -> dict[str, Any]:
        """Plain values for checkpoints/reject.json."""
        return {"feature_model": self.feature_model, "members": self.members, "means": self.means.tolist(),
                "precision": self.precision.tolist(), "mu": self.mu.tolist(), "sd": self.sd.tolist(),
                "weights": self.weights.tolist(), "bias": self.bias, "threshold": self.threshold, "info": self.info}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RejectRule:
        """The rule stored by to_json; ValueError when something is missing or not finite."""
        try:
            rule = cls(str(d["feature_model"]), [str(m) for m in d["members"]], np.asarray(d["means"], np.float64),
                       np.asarray(d["precision"], np.float64), np.asarray(d["mu"], np.float64),
                       np.asarray(d["sd"], np.float64), np.asarray(d["weights"], np.float64), float(d["bias"]),
                       float(d["threshold"]), dict(d.get("info", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"reject rule is malformed ({type(exc).__name__}: {exc})") from None
        arrays = (rule.means, rule.precision, rule.mu, rule.sd, rule.weights)
        if rule.means.ndim != 2 or rule.precision.shape != (rule.means.shape[1],) * 2 or rule.weights.shape != (3,) \
                or not all(np.isfinite(a).all() for a in arrays) or not math.isfinite(rule.threshold):
            raise ValueError("reject rule is malformed (shapes or non-finite values)")
        return rule


def rule_path(directory: Path | None = None) -> Path:
    """Where the fitted rule is committed."""
    return Path(directory or CHECKPOINT_DIR) / FILE_NAME


def save_rule(rule: RejectRule, directory: Path | None = None) -> Path:
    """Write checkpoints/reject.json atomically."""
    return atomic_write(rule_path(directory), lambda fh: fh.write(json.dumps(rule.to_json()) + "\n"), text=True)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> RejectRule:
    return RejectRule.from_json(json.loads(Path(path).read_text()))


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
    unlike_digits: bool  # the distance to the training digits is the main reason (else doubt or disagreement)


def verdict(rule: RejectRule, sig: np.ndarray, member_digits: dict[str, int]) -> Verdict:
    """The rule's answer for one drawing's signals (3,) and each member's top-1 digit."""
    score = float(rule.score(np.asarray(sig).reshape(1, 3))[0])
    parts = rule.contributions(sig)
    main = max(parts, key=parts.get)
    votes = list(member_digits.values())
    top = max(set(votes), key=votes.count) if votes else None
    if main == "distance":
        reason = "it is far from every digit the models were trained on"
    elif main == "disagree" and top is not None:
        reason = (f"the models disagree: {votes.count(top)} of {len(votes)} say {top}, the others "
                  + ", ".join(sorted({str(v) for v in votes if v != top})))
    else:
        reason = f"even the models' best guess has only {1 - float(sig[0]):.0%} confidence"
    return Verdict(score >= rule.threshold, score, reason, main == "distance")


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive (non-digit) scores above a random negative
    (real digit), ties counting half."""
    neg, pos = np.asarray(negatives, np.float64), np.asarray(positives, np.float64)
    if not len(neg) or not len(pos):
        raise ValueError("auroc needs at least one negative and one positive")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([neg, pos]))  # ties get their average rank
    return float((ranks[len(neg):].sum() - len(pos) * (len(pos) + 1) / 2) / (len(neg) * len(pos)))
