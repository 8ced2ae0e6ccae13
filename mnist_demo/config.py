"""Paths, devices, seeding and the hyper-parameter dataclasses shared by the core."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = Path(os.environ.get("MNIST_CHECKPOINT_DIR", REPO_ROOT / "checkpoints"))
RESULTS_DIR = REPO_ROOT / "mnist_demo" / "results"  # small shipped results (rebuilt by the commands they name)


def cache_dir(kind: str) -> Path:
    """Folder of one kind of disk cache ("tsne", "renders", "lstm_rows"): MNIST_CACHE_DIR/kind, default .cache/.

    Read at call time, so a test or benchmark can point the whole app's caches elsewhere with one variable."""
    return Path(os.environ.get("MNIST_CACHE_DIR", REPO_ROOT / ".cache")) / kind


def data_dir() -> Path:
    """Directory holding MNIST/raw (env MNIST_DATA_DIR, default data/ in the repository)."""
    return Path(os.environ.get("MNIST_DATA_DIR", REPO_ROOT / "data")).expanduser().resolve()


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when available, else CPU; `requested` ('cpu', 'cuda', 'cuda:1') overrides."""
    if requested:
        dev = torch.device(requested)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda was requested but CUDA is not available on this machine")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Augment:
    """Batch augmentation strengths (0 disables each); applied on the training device."""

    rotate_deg: float = 0.0  # uniform rotation in [-r, r] degrees
    scale: tuple[float, float] = (1.0, 1.0)  # isotropic zoom range
    shift_px: float = 0.0  # uniform translation in pixels
    shear: float = 0.0  # horizontal shear factor range [-s, s]
    elastic: float = 0.0  # amplitude (px) of a smooth random displacement field
    thickness_p: float = 0.0  # probability of dilating or eroding the strokes
    styles_p: float = 0.0  # probability of a style edit (crossed 7, flagged 1, curled 9) on eligible digits

    @property
    def enabled(self) -> bool:
        """True when any transform is active."""
        return bool(self.rotate_deg or self.scale != (1.0, 1.0) or self.shift_px or self.shear
                    or self.elastic or self.thickness_p or self.styles_p)


@dataclass(frozen=True)
class TrainConfig:
    """One training recipe: optimiser, schedule, batches, evaluation cadence, augmentation."""

    epochs: float = 1.0  # may be fractional (e.g. 0.1 of an epoch for a demo)
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | adamw | sgd
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | onecycle | cosine
    label_smoothing: float = 0.0
    train_size: int = 60_000  # first N training images (after a seeded shuffle)
    eval_every: int = 50  # steps between evaluations on the eval subset (0 = only at the end)
    eval_size: int = 2_000  # first N test images for periodic evaluation (the seeds use 2000)
    log_every: int = 10  # steps between loss events
    seed: int = 1
    max_steps: int | None = None  # stop early (dry runs, tests)
    augment: Augment = field(default_factory=Augment)
    pad_renders: int = 0  # extra training digits drawn on the pad and preprocessed (mnist_demo.drawing.pad_renders)
    pen_renders: int = 0  # extra renders of the training writers' real pen digits (mnist_demo.drawing.pen_renders)


@dataclass(frozen=True)
class SinCosConfig:
    """Seed 002's sin -> cos regression: window k feeds sin(t) for t in [k*pi, (k+1)*pi)."""

    cell: str = "rnn"  # rnn | lstm | gru
    hidden: int = 32
    lr: float = 0.02
    steps: int = 100
    window: int = 10  # points per window of length pi
    seed: int = 1
    lr_decay: float = 1.0  # multiply lr by this every step (1.0 = the seed's constant lr)
