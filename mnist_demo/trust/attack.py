"""Drawings that fool a model: FGSM / PGD on the 28×28 input, the smallest ε that flips the answer, and the same
attack allowed only to add ink.

ε is the largest change of any one pixel (L∞, pixels in [0, 1]). PGD takes `steps` signed-gradient steps of
2.5 ε / steps, projected back into the ε-box and the valid pixel range after each; FGSM is one step of ε.
"Ink only" keeps every change ≥ 0 (pixels only get brighter: white ink on the model's black background).
Every ε of a search is attacked in one batch, so a search costs `steps` forward and backward passes.
The visitor's image is never modified: the attack works on a copy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MAX_EPS = 0.5  # beyond this a "perturbation" is a new drawing
MAX_STEPS = 20
SEARCH_EPS: tuple[float, ...] = tuple(round(0.01 * 1.4 ** k, 4) for k in range(12))  # 0.01 … 0.40, geometric


def check_eps(eps: Any) -> float:
    """ε as a float in (0, MAX_EPS]; ValueError with a plain message otherwise."""
    try:
        v = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"ε must be a number between 0 and {MAX_EPS}, got {eps!r}") from None
    if not math.isfinite(v) or not 0 < v <= MAX_EPS:
        raise ValueError(f"ε must be a number greater than 0 and at most {MAX_EPS}, got {eps!r}")
    return v


def check_target(target: Any) -> int | None:
    """None (any wrong digit) or a digit 0-9; ValueError otherwise."""
    if target is None or target == "" or target == "any":
        return None
    try:
        t = float(target)
    except (TypeError, ValueError):
        raise ValueError(f"the target must be a digit 0-9 or 'any', got {target!r}") from None
    if not (math.isfinite(t) and t == int(t) and 0 <= t <= 9):
        raise ValueError(f"the target must be a digit 0-9 or 'any', got {target!r}")
    return int(t)


def _image(img28: Any) -> torch.Tensor:
    a = np.array(img28, dtype=np.float32, copy=True)  # a copy: the visitor's drawing is never touched
    if a.shape != (28, 28) or not np.isfinite(a).all():
        raise ValueError(f"the attack needs a 28×28 image of finite pixels, got shape {a.shape}")
    return torch.from_numpy(np.clip(a, 0.0, 1.0)).view(1, 1, 28, 28)


def pgd(model: nn.Module, img28: np.ndarray, label: int, eps: list[float] | tuple[float, ...], steps: int = 10,
        target: int | None = None, ink_only: bool | list[bool] = False) -> torch.Tensor:
    """Adversarial images (K, 1, 28, 28), one per ε, moving away from `label` (or towards `target`); `ink_only`
    for all rows or per row (one batch can hold both kinds of attack)."""
    if not 1 <= int(steps) <= MAX_STEPS:
        raise ValueError(f"steps must be from 1 to {MAX_STEPS}")
    dev = next(model.parameters()).device
    x = _image(img28).to(dev)
    e = torch.tensor([check_eps(v) for v in eps], dtype=torch.float32, device=dev).view(-1, 1, 1, 1)
    k = e.shape[0]
    x = x.expand(k, -1, -1, -1)
    y = torch.full((k,), int(target if target is not None else label), dtype=torch.long, device=dev)
    sign = -1.0 if target is not None else 1.0  # targeted: descend the target's loss
    alpha = e if steps == 1 else 2.5 * e / steps
    delta = torch.zeros_like(x)
    ink = torch.tensor(ink_only if isinstance(ink_only, list) else [ink_only] * k, device=dev).view(-1, 1, 1, 1)
    lo = torch.where(ink, torch.zeros_like(e), -e)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            for _ in range(int(steps)):
                delta.requires_grad_(True)
                loss = F.cross_entropy(model(x + delta), y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, delta)
                with torch.no_grad():
                    delta = delta + sign * alpha * grad.sign()
                    delta = torch.maximum(torch.minimum(delta, e), lo)
                    delta = (x + delta).clamp(0.0, 1.0) - x
    finally:
        model.train(was_training)
    return (x + delta).detach()


@torch.inference_mode()
def _probs(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    return model(x).softmax(1).double().cpu().numpy()


@dataclass(frozen=True)
class AttackResult:
    """One attack on one drawing: the perturbed image at the chosen ε and the smallest ε that flips it."""

    label: int  # the model's answer on the clean drawing
    eps: float  # the ε asked for
    adversarial: np.ndarray  # (28, 28) at eps
    probs: np.ndarray  # (10,) the model's probabilities on it
    flipped: bool  # the answer changed (to the target, when there is one)
    min_eps: float | None  # the smallest searched ε that flips it (None: none up to MAX_EPS)
    min_adversarial: np.ndarray | None  # (28, 28) at min_eps
    ms: float

    @property
    def digit(self) -> int:
        """The model's answer on the perturbed image."""
        return int(self.probs.argmax())


def _fools(probs: np.ndarray, label: int, target: int | None) -> np.ndarray:
    top = probs.argmax(1)
    return top == target if target is not None else top != label


def attack(model: nn.Module, img28: np.ndarray, eps: Any, target: Any = None, ink_only: bool = False,
           steps: int = 8) -> AttackResult:
    """PGD at the visitor's ε, plus the smallest ε of SEARCH_EPS (refined between the last miss and the first
    hit) that flips the answer."""
    return attacks(model, img28, eps, target, (ink_only,), steps)[0]


def attacks(model: nn.Module, img28: np.ndarray, eps: Any, target: Any = None,
            modes: tuple[bool, ...] = (False, True), steps: int = 8) -> list[AttackResult]:
    """`attack` for each mode (False: any change, True: ink only), all searched in the same two batches."""
    t0 = time.perf_counter()
    eps_v, tgt = check_eps(eps), check_target(target)
    clean = _image(img28)
    dev = next(model.parameters()).device
    label = int(_probs(model, clean.to(dev)).argmax())
    if tgt == label:
        raise ValueError(f"the model already reads {label}: pick another target digit")
    grid = [v for v in SEARCH_EPS if v <= MAX_EPS]
    row = [eps_v, *grid]  # per mode: the chosen ε, then the grid
    advs = pgd(model, img28, label, row * len(modes), steps, tgt, [m for m in modes for _ in row])
    probs = _probs(model, advs)
    fooled = _fools(probs, label, tgt)
    found: list[tuple[float | None, np.ndarray | None]] = []
    fine_eps, fine_modes, fine_of = [], [], []
    for k in range(len(modes)):
        base = k * len(row)
        hits = np.nonzero(fooled[base + 1:base + len(row)])[0]
        if not len(hits):
            found.append((None, None))
            continue
        i = int(hits[0])
        hi, lo = grid[i], (grid[i - 1] if i else 0.0)
        found.append((hi, advs[base + 1 + i, 0].cpu().numpy()))
        for f in (0.25, 0.5, 0.75):  # one more batch between the last miss and the first hit
            fine_eps.append(lo + (hi - lo) * f)
            fine_modes.append(modes[k])
            fine_of.append(k)
    if fine_eps:
        fa = pgd(model, img28, label, fine_eps, steps, tgt, fine_modes)
        ff = _fools(_probs(model, fa), label, tgt)
        for j in range(len(fine_eps) - 1, -1, -1):  # backwards: the smallest flipping ε of each mode wins
            if ff[j]:
                found[fine_of[j]] = (round(fine_eps[j], 4), fa[j, 0].cpu().numpy())
    ms = (time.perf_counter() - t0) * 1000
    return [AttackResult(label, eps_v, advs[k * len(row), 0].cpu().numpy(), probs[k * len(row)],
                         bool(fooled[k * len(row)]), *found[k], ms) for k in range(len(modes))]


def transfer(models: dict[str, nn.Module], adversarial: np.ndarray) -> dict[str, np.ndarray]:
    """Every model's probabilities (10,) on the same perturbed image."""
    x = _image(adversarial)
    return {n: _probs(m, x.to(next(m.parameters()).device))[0] for n, m in models.items()}
