"""Predicting digits from drawings with the committed models (the plain Python API)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .drawing.preprocess import Preprocessed, preprocess

_default_registry = None
_default_lock = threading.Lock()


class BlankDrawingError(ValueError):
    """The drawing is empty or only a dot: there is no digit to read."""

    def __init__(self) -> None:
        super().__init__("draw a digit: the canvas is blank (or holds only a dot)")


@dataclass(frozen=True)
class Prediction:
    """One model's answer for one drawing."""

    model: str
    probs: np.ndarray  # (10,) probabilities summing to 1
    ms: float  # forward-pass latency in milliseconds

    @property
    def digit(self) -> int:
        """The most probable digit."""
        return int(self.probs.argmax())

    @property
    def confidence(self) -> float:
        """Probability of the most probable digit."""
        return float(self.probs.max())

    def as_dict(self) -> dict[str, float]:
        """{"0": p0, ..., "9": p9}."""
        return {str(d): float(p) for d, p in enumerate(self.probs)}


def to_tensor(img28: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(28, 28) float image in [0, 1] -> (1, 1, 28, 28) tensor on `device`."""
    return torch.from_numpy(np.ascontiguousarray(img28, dtype=np.float32)).view(1, 1, 28, 28).to(device)


@torch.inference_mode()
def predict_probs(model: nn.Module, img28: np.ndarray) -> tuple[np.ndarray, float]:
    """(probabilities (10,), milliseconds) of one preprocessed image."""
    dev = next(model.parameters()).device
    t0 = time.perf_counter()
    probs = model(to_tensor(img28, dev)).softmax(1)[0].cpu().numpy().astype(np.float64)
    return probs / probs.sum(), (time.perf_counter() - t0) * 1000


def predict_many(models: dict[str, nn.Module], img28: np.ndarray) -> list[Prediction]:
    """Every model's prediction of the same preprocessed image, in the given order."""
    return [Prediction(name, *predict_probs(m, img28)) for name, m in models.items()]


def _registry() -> Any:
    global _default_registry
    with _default_lock:
        if _default_registry is None:
            from .config import pick_device
            from .registry import ModelRegistry

            _default_registry = ModelRegistry(pick_device())
        return _default_registry


def predict_digit(image: Any, model: str = "best") -> dict[str, float]:
    """Digit -> probability (all ten) for a Sketchpad dict, numpy array or PIL image, by one model's name.

    'best' is the best reader of real pen digits of writers the models never saw; 'ensemble' averages the CNNs.

    Raises BlankDrawingError for a blank pad and BadImageError for data that is not an image.
    """
    reg = _registry()
    name = reg.best() if model == "best" else model
    net = reg.model(name)
    pre: Preprocessed | None = preprocess(image)
    if pre is None:
        raise BlankDrawingError()
    return Prediction(name, *predict_probs(net, pre.image)).as_dict()
