"""Seed 002's LSTM reads a digit one row at a time: what would it answer after each row?

The classifier only looks at the last step, but its head can be applied to the hidden state after any row k:
that is the answer it would give if it stopped there. Over the test set this gives accuracy against k.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import cache_dir
from ..data import MnistSplit
from ..fileio import atomic_write

ROWS = 28
_cache: dict[str, np.ndarray] = {}
_cache_lock = threading.Lock()


def _check(model: nn.Module) -> None:
    if not hasattr(model, "row_logits"):
        raise ValueError(f"{type(model).__name__} reads the whole image at once; "
                         "only the LSTM reads row by row (choose an lstm model)")


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def row_probabilities(model: nn.Module, img28: np.ndarray) -> np.ndarray:
    """(28, 10) float64: row k holds the class probabilities after reading rows 1…k+1 of one [0, 1] image."""
    _check(model)
    a = np.asarray(img28, dtype=np.float32)
    if a.shape != (ROWS, 28):
        raise ValueError(f"expected a 28×28 image, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("the image holds NaN or infinite values")
    x = torch.from_numpy(np.ascontiguousarray(a)).view(1, 1, 28, 28).to(_device(model))
    probs = model.row_logits(x)[0].softmax(-1).double().cpu().numpy()  # (28, 10)
    return probs / probs.sum(1, keepdims=True)


@dataclass(frozen=True)
class Reading:
    """A summary of one row-by-row reading, for the sentence under the heat-map."""

    digit: int  # the final answer (after row 28)
    confidence: float  # its final probability
    settled_row: int  # first row (1-based) from which the top class never changes again
    sure_row: int | None  # first row from which the final digit stays at ≥ `threshold` (None = never)
    threshold: float


def summarise(probs: np.ndarray, threshold: float = 0.9) -> Reading:
    """When the LSTM settles on its answer and when it becomes sure of it."""
    p = np.asarray(probs)
    top = p.argmax(1)
    final = int(top[-1])
    differs = np.nonzero(top != final)[0]
    settled = int(differs[-1]) + 2 if differs.size else 1
    below = np.nonzero(p[:, final] < threshold)[0]
    if below.size == 0:
        sure: int | None = 1
    elif below[-1] == len(p) - 1:
        sure = None
    else:
        sure = int(below[-1]) + 2
    return Reading(final, float(p[-1, final]), settled, sure, threshold)


def _model_key(model: nn.Module, n: int, split: MnistSplit) -> str:
    """A hash of the weights, the image count and the split, so a retrained model never reuses a stale curve."""
    h = hashlib.sha1()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    h.update(f"{n}:{len(split)}:{int(split.labels[:n].sum())}".encode())
    return h.hexdigest()[:20]


@torch.inference_mode()
def _accuracy_by_rows(model: nn.Module, split: MnistSplit, n: int, batch: int = 2000) -> np.ndarray:
    dev = _device(model)
    correct = torch.zeros(ROWS, dtype=torch.long)
    for i in range(0, n, batch):
        x = split.images[i:min(i + batch, n)].to(dev).unsqueeze(1).float().div_(255.0)
        y = split.labels[i:min(i + batch, n)].to(dev)
        pred = model.row_logits(x).argmax(-1)  # (B, 28): the answer after each row
        correct += (pred == y[:, None]).sum(0).cpu()
    return (correct.double() / n).numpy()


def accuracy_by_rows(model: nn.Module, split: MnistSplit, n: int | None = None, use_disk: bool = True) -> np.ndarray:
    """(28,) accuracy on the first n images of `split` if the LSTM answered after k = 1…28 rows (cached)."""
    _check(model)
    n = len(split) if n is None else int(n)
    if not 1 <= n <= len(split):
        raise ValueError(f"n must be from 1 to {len(split)}, got {n}")
    key = _model_key(model, n, split)
    with _cache_lock:
        if key in _cache:
            return _cache[key].copy()
    path = cache_dir("lstm_rows") / f"{key}.npy"
    acc = None
    if use_disk and path.is_file():
        try:
            acc = np.load(path)
        except (OSError, ValueError):
            acc = None  # a broken cache file is recomputed below
        if acc is not None and acc.shape != (ROWS,):
            acc = None
    if acc is None:
        acc = _accuracy_by_rows(model, split, n)
        if use_disk:
            _save_atomic(path, acc)
    with _cache_lock:
        _cache[key] = acc
    return acc.copy()


def _save_atomic(path, arr: np.ndarray) -> None:
    try:
        atomic_write(path, lambda fh: np.save(fh, arr))
    except OSError:
        pass  # a read-only disk only costs a recomputation next start


def pick_test_digit(split: MnistSplit, index: int) -> tuple[np.ndarray, int]:
    """(image (28, 28) float32 in [0, 1], label) of test image `index`."""
    msg = f"the test image index must be a whole number from 0 to {len(split) - 1}, got {index!r}"
    try:
        i = int(index)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(msg) from None
    if i != index or not 0 <= i < len(split):
        raise ValueError(msg)
    return split.images[i].numpy().astype(np.float32) / 255.0, int(split.labels[i])
