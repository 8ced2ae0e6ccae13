"""The pixel-shuffle experiment's recipe and results: the types, the permutation a recipe names, and the
shipped results file (mnist_demo/results/pixel_shuffle.json), written and read.

The app shows these without training; `python -m mnist_demo.experiments.shuffle --write` remakes the file.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import RESULTS_DIR, TrainConfig
from ..data import MnistSplit
from ..fileio import atomic_write

N_PIXELS = 28 * 28
CONDITIONS = ("original", "shuffled")
RESULTS_PATH = RESULTS_DIR / "pixel_shuffle.json"


@dataclass(frozen=True)
class ShuffleRecipe:
    """How the experiment trains; every (seed, model) pair trains once on each pixel order."""

    perm_seed: int = 0  # seed of the one fixed pixel permutation (train and test)
    train_seeds: tuple[int, ...] = (1, 2, 3, 4, 5)  # init + batch order; shared by a pair's two runs
    epochs: float = 3.0
    batch_size: int = 128
    lr: float = 1e-2
    optimizer: str = "adam"
    momentum: float = 0.9  # SGD only
    schedule: str = "onecycle"
    train_size: int = 60_000  # first N images of a seeded shuffle of the 60k training set
    models: tuple[str, ...] = ("mlp", "simple_cnn")

    def train_config(self, seed: int) -> TrainConfig:
        """The engine's TrainConfig for one run of this recipe."""
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, optimizer=self.optimizer,
                           momentum=self.momentum, schedule=self.schedule, train_size=self.train_size,
                           eval_every=0, log_every=10, seed=seed)

    def steps(self, n_train: int = 60_000) -> int:
        """Training steps of one run."""
        n = min(self.train_size, n_train)
        return max(1, math.ceil(self.epochs * math.ceil(n / self.batch_size)))

    def describe(self) -> str:
        """One line for people: optimiser, epochs, data, seeds."""
        opt = f"SGD lr {self.lr:g} momentum {self.momentum:g}" if self.optimizer == "sgd" else \
            f"{self.optimizer.capitalize()} lr {self.lr:g}"
        sched = "" if self.schedule == "constant" else f" ({self.schedule})"
        seeds = ", ".join(str(s) for s in self.train_seeds)
        return (f"{opt}{sched}, batch {self.batch_size}, {self.epochs:g} epochs on {self.train_size:,} training "
                f"images, permutation seed {self.perm_seed}, training seeds {seeds}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShuffleRecipe:
        """Inverse of to_dict (JSON turns tuples into lists)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        return cls(**kw)


@dataclass(frozen=True)
class PairRun:
    """One model and seed trained on both pixel orders: two test accuracies on the 10k test set."""

    model: str
    seed: int
    original: float
    shuffled: float
    steps: int  # training steps run (the same for both pixel orders)
    planned_steps: int

    @property
    def complete(self) -> bool:
        """True when the pair trained for every planned step."""
        return self.steps == self.planned_steps


@dataclass(frozen=True)
class ShuffleResult:
    """Every pair run of one experiment and how they were made."""

    recipe: ShuffleRecipe
    runs: tuple[PairRun, ...]
    seconds: float
    device: str

    @property
    def complete(self) -> bool:
        """True when every planned (seed, model) pair ran to the end."""
        done = {(r.model, r.seed) for r in self.runs if r.complete}
        return all((m, s) in done for m in self.recipe.models for s in self.recipe.train_seeds)

    def runs_of(self, model: str) -> list[PairRun]:
        """The pairs of `model` that count: the complete ones, or the cut-short ones when none completed."""
        runs = [r for r in self.runs if r.model == model]
        return [r for r in runs if r.complete] or runs

    def models(self) -> list[str]:
        """Models with at least one run, in recipe order."""
        return [m for m in self.recipe.models if self.runs_of(m)]

    def accuracy(self, model: str, condition: str) -> float:
        """Mean test accuracy over seeds of `model` on 'original' or 'shuffled' pixels."""
        runs = self.runs_of(model)
        if not runs:
            raise ValueError(f"{model} has no finished run in this result")
        return float(np.mean([getattr(r, condition) for r in runs]))

    def drop(self, model: str) -> float:
        """Accuracy lost to shuffling, in percentage points (mean over seeds; negative = gained)."""
        return 100.0 * (self.accuracy(model, "original") - self.accuracy(model, "shuffled"))

    def drop_spread(self, model: str) -> float:
        """Standard deviation of the per-seed drop, in points (0 with a single seed)."""
        drops = [100.0 * (r.original - r.shuffled) for r in self.runs_of(model)]
        return float(np.std(drops, ddof=1)) if len(drops) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (means included for people reading the file)."""
        return {"recipe": self.recipe.to_dict(), "recipe_text": self.recipe.describe(),
                "mean_accuracy": {m: {c: round(self.accuracy(m, c), 5) for c in CONDITIONS} for m in self.models()},
                "runs": [dataclasses.asdict(r) for r in self.runs], "complete": self.complete,
                "seconds": round(self.seconds, 1), "device": self.device}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShuffleResult:
        """Inverse of to_dict."""
        return cls(ShuffleRecipe.from_dict(d["recipe"]), tuple(PairRun(**r) for r in d["runs"]),
                   float(d["seconds"]), str(d["device"]))


def pixel_permutation(seed: int) -> np.ndarray:
    """The fixed permutation of the 784 pixel indices for `seed` (int64, shape (784,))."""
    # RandomState's stream is frozen by NumPy's compatibility policy, so a seed names the same order forever.
    return np.random.RandomState(seed).permutation(N_PIXELS).astype(np.int64)


def permutation_digest(perm: np.ndarray) -> str:
    """Short SHA-256 of a permutation: the results file records which order made its numbers."""
    return hashlib.sha256(np.asarray(perm, np.int64).tobytes()).hexdigest()[:16]


class ResultsError(ValueError):
    """The shipped results file is missing or unreadable; the message names the command that remakes it."""


@dataclass(frozen=True)
class ShippedResults:
    """What the app shows without training: the shipped and live-recipe results plus example digits."""

    shipped: ShuffleResult
    live: ShuffleResult  # the live button's recipe, run once with the same seeds (the reproduction reference)
    perm_seed: int
    perm_digest: str
    example_images: np.ndarray  # (n, 28, 28) uint8 test digits before shuffling
    example_labels: list[int]
    created: str
    versions: dict[str, str]


def example_indices(test: MnistSplit) -> list[int]:
    """Index of the first test image of each digit 0-9."""
    labels = test.labels.numpy()
    return [int(np.flatnonzero(labels == d)[0]) for d in range(10) if (labels == d).any()]


def save_results(shipped: ShuffleResult, live: ShuffleResult, test: MnistSplit, path: Path = RESULTS_PATH,
                 created: str | None = None) -> Path:
    """Write the results file atomically (temp file + os.replace); `created` defaults to now (UTC)."""
    if shipped.recipe.perm_seed != live.recipe.perm_seed:
        raise ValueError("the shipped and live results must use the same pixel permutation")
    idx = example_indices(test)
    payload = {
        "experiment": "pixel_shuffle (seed 004)",
        "made_by": "python -m mnist_demo.experiments.shuffle --write",
        "created": created or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": str(torch.__version__), "numpy": np.__version__, "python": platform.python_version()},
        "permutation": {"seed": shipped.recipe.perm_seed,
                        "sha256_16": permutation_digest(pixel_permutation(shipped.recipe.perm_seed))},
        "shipped": shipped.to_dict(),
        "live": live.to_dict(),
        # 784 uint8 pixels per digit as one hex string: compact and diff-friendly
        "examples": {"test_indices": idx, "labels": [int(test.labels[i]) for i in idx],
                     "images_hex": [test.images[i].numpy().tobytes().hex() for i in idx]},
    }
    return atomic_write(path, lambda fh: fh.write(json.dumps(payload, indent=1) + "\n"), text=True)


def load_results(path: Path = RESULTS_PATH) -> ShippedResults:
    """The shipped results; ResultsError with the remake command when missing or malformed."""
    hint = "remake it with: python -m mnist_demo.experiments.shuffle --write"
    try:
        d = json.loads(Path(path).read_text())
        ex = d["examples"]
        images = np.stack([np.frombuffer(bytes.fromhex(h), np.uint8) for h in ex["images_hex"]]).reshape(-1, 28, 28)
        return ShippedResults(ShuffleResult.from_dict(d["shipped"]), ShuffleResult.from_dict(d["live"]),
                              int(d["permutation"]["seed"]), str(d["permutation"]["sha256_16"]), images,
                              [int(x) for x in ex["labels"]], str(d["created"]), dict(d["versions"]))
    except FileNotFoundError:
        raise ResultsError(f"the pixel-shuffle results file {path} is missing; {hint}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"the pixel-shuffle results file {path} is unreadable ({type(exc).__name__}); "
                           f"{hint}") from None
