"""ModelRegistry: loads each committed checkpoint once and serves it read-only on one device."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoints import CheckpointError, checkpoint_path, load_checkpoint
from .config import CHECKPOINT_DIR
from .ensemble import ENSEMBLE, Ensemble, ensemble_info
from .models import CLASSIFIERS
from .trust.calibration import apply_temperature

# Recorded in checkpoint metrics by `python benchmarks/sketch_accuracy.py --record`: top-1 on pad-like drawings.
SKETCH_METRIC = "sketch_top1"
# Recorded by `python benchmarks/pen_accuracy.py --record`: top-1 on real pen digits of held-out writers.
# "best" means this: the best reader of real people's handwriting (issue 16).
PEN_METRIC = "pen_top1"


class ModelRegistry:
    """Committed models, loaded lazily, cached under a lock; broken checkpoints are reported, not fatal."""

    def __init__(self, device: torch.device | str = "cpu", directory: Path | None = None) -> None:
        self.device = torch.device(device)
        self.directory = Path(directory or CHECKPOINT_DIR)
        self._models: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def load_all(self) -> None:
        """Load every classifier now (start-up), recording the ones that fail."""
        for name in CLASSIFIERS:
            try:
                self.get(name)
            except CheckpointError:
                pass

    def get(self, name: str) -> tuple[nn.Module, dict[str, Any]]:
        """(model, metadata) for a committed classifier or the ensemble; CheckpointError/KeyError when unavailable."""
        if name == ENSEMBLE:
            return self._ensemble()
        if name not in CLASSIFIERS:
            raise KeyError(f"unknown model {name!r}; choose one of {', '.join(CLASSIFIERS)}")
        with self._lock:
            if name not in self._models:
                if name in self._errors:
                    raise CheckpointError(self._errors[name])
                try:
                    model, meta = load_checkpoint(name, self.device, checkpoint_path(name, self.directory))
                except CheckpointError as exc:
                    self._errors[name] = str(exc)
                    raise
                for p in model.parameters():  # shared by every visitor: never trained in place
                    p.requires_grad_(False)
                # Calibrated probabilities everywhere (predict, Draw, Evaluate, the ensemble): logits / T.
                apply_temperature(model, meta.get("temperature"))
                self._models[name] = (model, meta)
            return self._models[name]

    @functools.cached_property
    def _ensemble_info(self) -> dict[str, Any]:
        # Read once, like the checkpoints: every /draw asks for the ensemble, and that must not touch the disk.
        return ensemble_info(self.directory)

    def _ensemble(self) -> tuple[nn.Module, dict[str, Any]]:
        with self._lock:
            if ENSEMBLE in self._models:  # built once: members that load (or fail) keep doing so
                return self._models[ENSEMBLE]
        info = self._ensemble_info
        members = {}
        for m in info["members"]:
            try:
                members[m] = self.get(m)[0]
            except CheckpointError:
                pass  # a missing member: the others still vote
        if len(members) < 2:
            raise CheckpointError("the ensemble needs at least two of its members' checkpoints: "
                                  + ", ".join(info["members"]))
        with self._lock:
            if ENSEMBLE not in self._models:
                self._models[ENSEMBLE] = (Ensemble(members), {"name": ENSEMBLE, "metrics": info["metrics"],
                                                              "members": list(members)})
            return self._models[ENSEMBLE]

    def choices(self) -> list[str]:
        """Every name a visitor or the API may pick: the available classifiers, then the ensemble."""
        names = self.available()
        members = self._ensemble_info["members"]
        return [*names, ENSEMBLE] if sum(m in names for m in members) >= 2 else names

    def model(self, name: str) -> nn.Module:
        """The model alone."""
        return self.get(name)[0]

    def available(self) -> list[str]:
        """Classifiers whose checkpoints load, in registry order."""
        self.load_all()
        return [n for n in CLASSIFIERS if n in self._models]

    def errors(self) -> dict[str, str]:
        """name -> message for checkpoints that are missing or corrupt."""
        self.load_all()
        return dict(self._errors)

    def best(self, metric: str = PEN_METRIC, single: bool = False) -> str:
        """The model (or, unless `single`, the ensemble) with the highest recorded `metric`; test accuracy when
        none records it."""
        names = self.available() if single else self.choices()
        if not names:
            raise CheckpointError("no checkpoint could be loaded; rebuild them with: "
                                  "python -m mnist_demo.train --model all --recipe best")

        def score(n: str, key: str) -> float:
            value = self.get(n)[1].get("metrics", {}).get(key)
            return float(value) if isinstance(value, (int, float)) else -1.0

        if all(score(n, metric) < 0 for n in names):
            metric = "accuracy"
        return max(names, key=lambda n: (score(n, metric), score(n, "accuracy")))
