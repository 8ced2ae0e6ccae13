"""Temperature scaling: one number per model that makes its probabilities honest, and the error it removes.

A model's logits are divided by its temperature T before the softmax (T > 1 softens over-confident answers,
T < 1 sharpens under-confident ones, e.g. after label smoothing); the top-1 answer never changes. T is fitted by
minimising the negative log-likelihood on a validation set, stored in the checkpoint's metadata ("temperature")
and applied by the registry to every model it loads (`apply_temperature`), so every probability the app shows,
the ensemble's included, is the calibrated one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoints import checkpoint_path, read_payload, save_payload

T_RANGE = (0.05, 20.0)  # temperatures outside this are a broken fit, not a calibration
# The Trust tab's reliability diagrams, written by `python -m mnist_demo.trust.fit` (shipped, a few kB).
CALIBRATION_PATH = Path(__file__).resolve().parent.parent / "results" / "calibration.json"


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error: mean |accuracy - confidence| over equal-width confidence bins, weighted by
    the share of answers in each bin (top-1 confidence; `probs` (N, C), `labels` (N,))."""
    conf, acc = _conf_acc(probs, labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(acc[m].mean() - conf[m].mean())
    return float(total)


def _conf_acc(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError(f"probs must be (N, C) and labels (N,), got {probs.shape} and {labels.shape}")
    return probs.max(1), (probs.argmax(1) == labels).astype(np.float64)


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's data: per confidence bin its mean confidence, accuracy and count."""

    edges: list[float]  # (n_bins + 1,)
    confidence: list[float | None]  # None for an empty bin
    accuracy: list[float | None]
    count: list[int]
    ece: float

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"edges": self.edges, "confidence": self.confidence, "accuracy": self.accuracy,
                "count": self.count, "ece": self.ece}


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> Reliability:
    """Per-bin confidence, accuracy and counts (equal-width bins of top-1 confidence) plus the ECE (15 bins)."""
    conf, acc = _conf_acc(probs, labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    c, a, n = [], [], []
    for b in range(n_bins):
        m = idx == b
        n.append(int(m.sum()))
        c.append(round(float(conf[m].mean()), 5) if m.any() else None)
        a.append(round(float(acc[m].mean()), 5) if m.any() else None)
    return Reliability([round(float(e), 4) for e in edges], c, a, n, round(ece(probs, labels), 6))


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / T)."""
    return float(torch.nn.functional.cross_entropy(logits.double() / temperature, labels.long()))


def fit_temperature(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
    """The T minimising the NLL of softmax(logits / T) (a 1-D convex problem in log T: a coarse grid, then
    golden-section search around the best grid point)."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if z.ndim != 2 or y.shape != (z.shape[0],) or z.shape[0] == 0:
        raise ValueError(f"logits must be (N, C) and labels (N,), N > 0; got {tuple(z.shape)}, {tuple(y.shape)}")
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    grid = np.linspace(lo, hi, 61)
    losses = [nll(z, y, math.exp(g)) for g in grid]
    k = int(np.argmin(losses))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(z, y, math.exp(c)), nll(z, y, math.exp(d))
    for _ in range(40):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(z, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(z, y, math.exp(d))
    return float(math.exp((a + b) / 2))


class _DivideLogits:
    """A forward hook: the module's output (logits) divided by a fixed temperature."""

    def __init__(self, temperature: float) -> None:
        self.temperature = float(temperature)

    def __call__(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        return output / self.temperature


def valid_temperature(value: Any) -> float | None:
    """The stored temperature as a float when it is a sane one, else None (the model stays uncalibrated)."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    return t if math.isfinite(t) and T_RANGE[0] <= t <= T_RANGE[1] else None


def apply_temperature(model: nn.Module, temperature: Any) -> nn.Module:
    """Make `model(x)` return logits / T from now on (once: a second call replaces the first); a missing or
    insane T leaves the model as it is. `model.temperature` says which T is in effect (1.0: none)."""
    for key, hook in list(model._forward_hooks.items()):  # no handle kept: a deepcopy of the model stays simple
        if isinstance(hook, _DivideLogits):
            del model._forward_hooks[key]
    t = valid_temperature(temperature)
    model.temperature = t or 1.0
    if t is not None and t != 1.0:
        model.register_forward_hook(_DivideLogits(t))
    return model


def record_temperature(name: str, temperature: float, details: dict[str, Any] | None = None,
                       path: Path | None = None) -> Path:
    """Store a model's fitted temperature (and how it was fitted) in its checkpoint, atomically."""
    t = valid_temperature(temperature)
    if t is None:
        raise ValueError(f"temperature must be a finite number in {T_RANGE}, got {temperature!r}")
    path = path or checkpoint_path(name)
    payload = read_payload(path, expected_name=name)
    payload["temperature"] = t
    payload["calibration"] = dict(details or {})
    return save_payload(payload, path)
