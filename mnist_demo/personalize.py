"""Fine-tune a copy of a classifier on one person's digits in seconds, and measure it honestly.

`personalize` trains a *copy* (the shared model is never touched): every batch mixes the person's digits
(sampled with replacement, augmented) with replay from the data the model was trained on (MNIST's training
split plus the training writers' pen renders when they are cached), so it learns the person's hand without
forgetting everyone else's. Seeded: the same inputs and seed give the same weights.

`teach` adds the evaluation: a **fixed hold-out** (a seeded, per-digit quarter of the person's drawings,
chosen before training) is never given to the fine-tune, which reports the ids it drew batches from, so
callers and tests can check that on indices. Base and fine-tuned models are then compared on the hold-out
and, when given, on the MNIST test set.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import augment_batch
from .config import Augment
from .data import MnistSplit, load_mnist
from .engine import predict_logits

# Milder than the training recipes' PAD_AUGMENT: the person's digits are already pad drawings.
TEACH_AUGMENT = Augment(rotate_deg=12, scale=(0.88, 1.08), shift_px=1.5, shear=0.12, elastic=0.6, thickness_p=0.3)
HOLDOUT_FRACTION = 0.25


@dataclass(frozen=True)
class PersonalizeConfig:
    """How a fine-tune runs (defaults: about a second or two on one CPU core for LeNet-5)."""

    steps: int = 100  # optimiser steps
    batch_size: int = 64
    own_share: float = 0.5  # part of each batch drawn from the person's digits (the rest is replay)
    lr: float = 3e-4  # Adam, cosine-decayed to 0 over `steps`
    label_smoothing: float = 0.05
    augment: Augment = field(default_factory=lambda: TEACH_AUGMENT)
    seed: int = 0
    log_every: int = 10  # steps between progress events
    max_seconds: float = 60.0  # wall-clock cap (the run stops early, and says so)


@dataclass(frozen=True)
class PersonalizeEvent:
    """Progress of one fine-tune; the last one (done) carries the model and the ids it trained on."""

    step: int
    total_steps: int
    loss: float  # mean loss since the previous event
    elapsed: float
    done: bool = False
    stopped: bool = False  # by should_stop() or the time cap
    model: nn.Module | None = None
    seen_ids: frozenset[int] = frozenset()  # ids of the person's digits that went into any batch


@dataclass(frozen=True)
class TeachReport:
    """Before and after on the person's held-out drawings (and on MNIST's test set when measured)."""

    train_ids: np.ndarray  # ids the fine-tune was given
    holdout_ids: np.ndarray  # ids it never saw
    holdout_labels: np.ndarray
    base_preds: np.ndarray  # (len(holdout_ids),)
    tuned_preds: np.ndarray
    mnist_base: float | None
    mnist_tuned: float | None
    seconds: float  # the fine-tune's wall time
    steps: int
    stopped: bool
    model: nn.Module

    @property
    def base_acc(self) -> float | None:
        """Base model's accuracy on the hold-out (None when it is empty)."""
        return float((self.base_preds == self.holdout_labels).mean()) if len(self.holdout_labels) else None

    @property
    def tuned_acc(self) -> float | None:
        """Fine-tuned model's accuracy on the hold-out (None when it is empty)."""
        return float((self.tuned_preds == self.holdout_labels).mean()) if len(self.holdout_labels) else None

    @property
    def fixed(self) -> np.ndarray:
        """Ids of held-out drawings that flipped from wrong to right."""
        ok_b, ok_t = self.base_preds == self.holdout_labels, self.tuned_preds == self.holdout_labels
        return self.holdout_ids[~ok_b & ok_t]

    @property
    def broken(self) -> np.ndarray:
        """Ids of held-out drawings that flipped from right to wrong."""
        ok_b, ok_t = self.base_preds == self.holdout_labels, self.tuned_preds == self.holdout_labels
        return self.holdout_ids[ok_b & ~ok_t]


class Replay:
    """Several labelled splits sampled as one, without concatenating them (no second copy of MNIST in memory)."""

    def __init__(self, *parts: MnistSplit) -> None:
        self.parts = tuple(p for p in parts if len(p))
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def sample(self, k: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """k random (image uint8 (k, 28, 28), label (k,)) pairs drawn uniformly over all parts."""
        idx = torch.randint(len(self), (k,), generator=gen)
        x, y = torch.empty((k, 28, 28), dtype=torch.uint8), torch.empty(k, dtype=torch.long)
        for part, lo, hi in zip(self.parts, self.offsets[:-1], self.offsets[1:]):
            m = (idx >= int(lo)) & (idx < int(hi))
            x[m], y[m] = part.images[idx[m] - int(lo)], part.labels[idx[m] - int(lo)]
        return x, y


@lru_cache(maxsize=2)
def replay_set(pen: bool = True) -> tuple[Replay, str]:
    """(MNIST's 60k training digits + the cached pen renders of the training writers, a description).

    The pen renders are used only when already cached (rendering them takes minutes): MNIST alone otherwise.
    Kept once per process: MNIST is load_mnist's own copy, the renders add ~24 MB.
    """
    train = load_mnist(train=True)
    if pen:
        from .drawing import pen_renders as pr
        from .models import PEN_RENDERS
        if pr.cache_path(PEN_RENDERS).exists():
            extra = pr.pen_renders(PEN_RENDERS)
            return Replay(train, extra), f"MNIST's {len(train):,} training digits + {len(extra):,} pen renders"
    return Replay(train), f"MNIST's {len(train):,} training digits"


def _as_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) uint8 or float in [0, 1] -> float (N, 1, 28, 28) on the CPU."""
    x = torch.as_tensor(np.asarray(images))
    if x.ndim != 3 or tuple(x.shape[1:]) != (28, 28):
        raise ValueError(f"images must be (N, 28, 28), got {tuple(x.shape)}")
    x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float().clamp(0, 1)
    return x.unsqueeze(1)


def _check_labels(labels: np.ndarray, n: int) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(labels)).long()
    if y.shape != (n,) or (n and (int(y.min()) < 0 or int(y.max()) > 9)):
        raise ValueError(f"labels must be {n} digits 0-9")
    return y


def personalize(model: nn.Module, images: np.ndarray, labels: np.ndarray, cfg: PersonalizeConfig | None = None,
                replay: Replay | MnistSplit | None = None, ids: np.ndarray | None = None,
                should_stop: Callable[[], bool] | None = None) -> Iterator[PersonalizeEvent]:
    """Fine-tune a copy of `model` on images (N, 28, 28) with labels (N,) mixed with `replay`; yields events.

    `ids` names the rows (default 0..N-1); the last event's `seen_ids` are those that went into batches.
    """
    cfg = cfg or PersonalizeConfig()
    if cfg.steps < 1 or cfg.batch_size < 2 or not 0 < cfg.own_share <= 1 or not cfg.lr > 0:
        raise ValueError("fine-tune settings out of range: steps ≥ 1, batch ≥ 2, 0 < own share ≤ 1, lr > 0")
    if hasattr(model, "members"):
        raise ValueError("fine-tune a single network, not the ensemble")
    own_x = _as_float(images)
    n = own_x.shape[0]
    if n == 0:
        raise ValueError("there are no drawings to learn from: save a few first")
    own_y = _check_labels(labels, n)
    ids_arr = np.arange(n) if ids is None else np.asarray(ids, np.int64)
    if ids_arr.shape != (n,):
        raise ValueError("ids must name every drawing once")
    device = next(model.parameters()).device
    tuned = copy.deepcopy(model)
    for p in tuned.parameters():
        p.requires_grad_(True)
    tuned.train()
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout
    if isinstance(replay, MnistSplit):
        replay = Replay(replay)
    k_own = max(1, round(cfg.batch_size * cfg.own_share)) if replay is not None and len(replay) else cfg.batch_size
    k_rep = cfg.batch_size - k_own
    opt = torch.optim.Adam(tuned.parameters(), lr=cfg.lr, fused=True)  # one kernel a step: a third of the time
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / cfg.steps)))
    seen: set[int] = set()
    start = time.perf_counter()
    loss_sum, loss_n, stopped, step = 0.0, 0, False, 0
    while step < cfg.steps:
        pick = torch.randint(n, (k_own,), generator=gen)
        seen.update(ids_arr[pick.numpy()].tolist())
        xb, yb = own_x[pick], own_y[pick]
        if k_rep:
            rx, ry = replay.sample(k_rep, gen)
            xb = torch.cat([xb, rx.unsqueeze(1).float().div_(255.0)])
            yb = torch.cat([yb, ry])
        xb = augment_batch(xb, yb, cfg.augment, gen)
        loss = F.cross_entropy(tuned(xb.to(device)), yb.to(device), label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        loss_sum, loss_n = loss_sum + float(loss.detach()), loss_n + 1
        elapsed = time.perf_counter() - start
        stopped = bool(should_stop and should_stop()) or elapsed > cfg.max_seconds
        last = step == cfg.steps or stopped
        if last or step % cfg.log_every == 0:
            if last:
                tuned.eval()
                for p in tuned.parameters():
                    p.requires_grad_(False)
            yield PersonalizeEvent(step, cfg.steps, loss_sum / loss_n, elapsed, last, stopped,
                                   tuned if last else None, frozenset(seen) if last else frozenset())
            loss_sum, loss_n = 0.0, 0
        if stopped:
            break


def split_holdout(labels: np.ndarray, fraction: float = HOLDOUT_FRACTION, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows): per digit with ≥ 2 drawings, a seeded `fraction` (at least one) is held out;
    a digit drawn once is only trained on. The two never overlap."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, held = [], []
    for d in range(10):
        rows = rng.permutation(np.nonzero(labels == d)[0])
        k = 0 if len(rows) < 2 else min(len(rows) - 1, max(1, round(len(rows) * fraction)))
        held += rows[:k].tolist()
        train += rows[k:].tolist()
    train_a, held_a = np.array(sorted(train), np.int64), np.array(sorted(held), np.int64)
    assert not set(train_a.tolist()) & set(held_a.tolist())
    return train_a, held_a


def predict_labels(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Predicted digits for images (N, 28, 28)."""
    if len(images) == 0:
        return np.zeros(0, np.int64)
    dev = next(model.parameters()).device
    return predict_logits(model, _as_float(images).to(dev)).argmax(1).cpu().numpy()


def teach(model: nn.Module, images: np.ndarray, labels: np.ndarray, ids: np.ndarray | None = None,
          cfg: PersonalizeConfig | None = None, replay: Replay | MnistSplit | None = None,
          mnist_test: MnistSplit | None = None,
          mnist_base: float | None = None, holdout: float = HOLDOUT_FRACTION,
          should_stop: Callable[[], bool] | None = None) -> Iterator[PersonalizeEvent | TeachReport]:
    """Hold out a fixed part of the drawings, fine-tune on the rest, compare; yields events, then a TeachReport.

    `mnist_base`: the base model's MNIST test accuracy when already known (else measured on `mnist_test`).
    """
    images, labels = np.asarray(images), np.asarray(labels)
    ids = np.arange(len(labels)) if ids is None else np.asarray(ids, np.int64)
    train_rows, held_rows = split_holdout(labels, holdout, (cfg or PersonalizeConfig()).seed)
    last = None
    for ev in personalize(model, images[train_rows], labels[train_rows], cfg, replay, ids[train_rows], should_stop):
        last = ev
        yield ev
    assert last is not None and last.model is not None
    held_ids = ids[held_rows]
    assert last.seen_ids.isdisjoint(held_ids.tolist()), "a held-out drawing reached the fine-tune"
    tuned = last.model
    mnist_tuned = None
    if mnist_test is not None:
        x = mnist_test.float_images(next(model.parameters()).device)
        y = mnist_test.labels.to(x.device)
        if mnist_base is None:
            mnist_base = float((predict_logits(model, x).argmax(1) == y).float().mean())
        mnist_tuned = float((predict_logits(tuned, x).argmax(1) == y).float().mean())
    yield TeachReport(ids[train_rows], held_ids, labels[held_rows], predict_labels(model, images[held_rows]),
                      predict_labels(tuned, images[held_rows]), mnist_base, mnist_tuned, last.elapsed, last.step,
                      last.stopped, tuned)
