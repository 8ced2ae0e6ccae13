"""The CNN ensemble: the members' averaged probabilities, served under the model name "ensemble"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import CHECKPOINT_DIR
from .fileio import atomic_write

ENSEMBLE = "ensemble"
DEFAULT_MEMBERS: tuple[str, ...] = ("cnn", "lenet5", "lenet5_fc", "cnn_fc3", "simple_cnn")
FILE_NAME = "ensemble.json"  # members and measured figures (benchmarks/pen_accuracy.py --record), committed


class Ensemble(nn.Module):
    """Averages its members' softmax outputs; returns log-probabilities, so `.softmax(1)` gives the average."""

    def __init__(self, members: dict[str, nn.Module]) -> None:
        super().__init__()
        self.names = list(members)
        self.members = nn.ModuleList(members.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the mean of the members' probabilities."""
        probs = torch.stack([m(x).softmax(1) for m in self.members]).mean(0)
        return probs.clamp_min(1e-12).log()


def _file(directory: Path | None) -> Path:
    return Path(directory or CHECKPOINT_DIR) / FILE_NAME


def ensemble_info(directory: Path | None = None) -> dict[str, Any]:
    """{"members": [...], "metrics": {...}} from the committed file, or the default members and no metrics."""
    try:
        info = json.loads(_file(directory).read_text())
        members = [str(m) for m in info["members"]]
        metrics = {str(k): float(v) for k, v in info.get("metrics", {}).items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {"members": list(DEFAULT_MEMBERS), "metrics": {}}
    return {"members": members, "metrics": metrics}


def ensemble_members(directory: Path | None = None) -> list[str]:
    """The ensemble's member models."""
    return ensemble_info(directory)["members"]


def record_ensemble_metric(key: str, value: float, members: list[str], directory: Path | None = None) -> Path:
    """Store one measured figure of the ensemble (and its members) in checkpoints/ensemble.json, atomically."""
    info = ensemble_info(directory)
    info = {"members": list(members), "metrics": {**info["metrics"], key: float(value)}}
    return atomic_write(_file(directory), lambda fh: fh.write(json.dumps(info, indent=1) + "\n"), text=True)
