"""Predict while it trains: re-read the visitor's drawing with the model being trained.

The drawing is preprocessed once; at every evaluation step the model in training reads it again
(eval mode, no gradients, its training flag restored), so the visitor sees it make up its mind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import TrainConfig
from .data import MnistSplit
from .drawing.preprocess import preprocess
from .engine import TrainEvent, train_classifier
from .explain import class_probs


@dataclass(frozen=True)
class WatchHistory:
    """The model's probabilities for one drawing at each evaluation step."""

    steps: list[int]
    probs: np.ndarray  # (n_steps, 10), each row sums to 1

    @property
    def digits(self) -> list[int]:
        """The digit read at each step."""
        return [int(d) for d in self.probs.argmax(1)] if len(self.steps) else []

    def __len__(self) -> int:
        return len(self.steps)


class DrawingWatcher:
    """Feed it (step, model) during a run; read `history` for the plots. Inactive when the pad was blank."""

    def __init__(self, image28: np.ndarray | None) -> None:
        if image28 is not None:
            image28 = np.asarray(image28, np.float32)
            if image28.shape != (28, 28):
                raise ValueError(f"expected a preprocessed 28×28 image, got shape {image28.shape}")
        self.image = image28
        self._steps: list[int] = []
        self._probs: list[np.ndarray] = []

    @classmethod
    def from_pad(cls, value: Any) -> DrawingWatcher:
        """A watcher for a Sketchpad value (or any image preprocess() accepts); blank pads give an inactive one."""
        pre = preprocess(value)
        return cls(None if pre is None else pre.image)

    @property
    def active(self) -> bool:
        """True when there is a drawing to watch."""
        return self.image is not None

    def observe(self, step: int, model: nn.Module) -> np.ndarray | None:
        """Read the drawing with `model` now; returns the (10,) probabilities (None when inactive)."""
        if self.image is None:
            return None
        p = class_probs(model, self.image)
        self._steps.append(int(step))
        self._probs.append(p)
        return p

    @property
    def history(self) -> WatchHistory:
        """Everything observed so far."""
        probs = np.stack(self._probs) if self._probs else np.zeros((0, 10))
        return WatchHistory(list(self._steps), probs)


def watch_training(model: nn.Module, cfg: TrainConfig, train: MnistSplit, test: MnistSplit | None,
                   image28: np.ndarray, device: torch.device | str = "cpu",
                   should_stop: Callable[[], bool] | None = None
                   ) -> Iterator[tuple[TrainEvent, np.ndarray | None]]:
    """train_classifier's events, each with the drawing's probabilities on evaluation steps (else None)."""
    watcher = DrawingWatcher(image28)
    for ev in train_classifier(model, cfg, train, test, device, should_stop):
        yield ev, (watcher.observe(ev.step, model) if ev.test_acc is not None else None)
