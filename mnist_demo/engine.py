"""The one training engine: a generator of small event records over in-memory MNIST tensors."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import augment_batch
from .config import TrainConfig
from .data import MnistSplit


@dataclass(frozen=True)
class TrainEvent:
    """Progress of one run: emitted every `log_every` steps, on evaluations and at the end."""

    step: int
    total_steps: int
    epoch: float  # fractional epochs completed
    seen: int  # training images consumed so far
    loss: float  # mean training loss since the previous event
    test_acc: float | None  # accuracy on the eval subset, set on evaluation steps only
    elapsed: float  # seconds since the run started (evaluation included)
    images_per_s: float
    done: bool = False
    stopped: bool = False


@dataclass(frozen=True)
class EvalResult:
    """Accuracy of a classifier on a labelled set, with everything the UI shows about it."""

    accuracy: float
    per_class: list[float]
    confusion: np.ndarray  # (10, 10) counts, rows = true label, cols = predicted
    preds: np.ndarray  # (N,) predicted labels
    confidence: np.ndarray  # (N,) probability of the predicted label
    labels: np.ndarray  # (N,) true labels


def validate_config(cfg: TrainConfig) -> None:
    """Raise ValueError with a plain message for recipes that cannot run."""
    checks = [
        (math.isfinite(cfg.epochs) and cfg.epochs > 0, f"epochs must be a positive number, got {cfg.epochs}"),
        (isinstance(cfg.batch_size, int) and cfg.batch_size >= 1, f"batch size must be ≥ 1, got {cfg.batch_size}"),
        (math.isfinite(cfg.lr) and cfg.lr > 0, f"learning rate must be a positive number, got {cfg.lr}"),
        (cfg.optimizer in ("adam", "adamw", "sgd"), f"unknown optimiser {cfg.optimizer!r} (adam, adamw, sgd)"),
        (cfg.schedule in ("constant", "onecycle", "cosine"), f"unknown schedule {cfg.schedule!r}"),
        (cfg.train_size >= 1, f"training-set size must be ≥ 1, got {cfg.train_size}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(msg)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The recipe's optimiser over the model's parameters (fused kernels: one op per step, not one per tensor)."""
    params = list(model.parameters())
    fused = {"fused": True}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **fused)
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)


def uses_conv(model: nn.Module) -> bool:
    """True for models with 2-D convolutions (they run faster in channels-last layout on CPU)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, total: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(total, 2), pct_start=0.15)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total, 1))
    return None


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run `model` in eval mode and put its training flag back after (a model being trained may be passed)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
    """Logits for float images x (N, 1, 28, 28) in [0, 1], in large no-grad batches."""
    with eval_mode(model):
        return torch.cat([model(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


def accuracy_on(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of `model` on float images x and labels y (same device)."""
    return float((predict_logits(model, x).argmax(1) == y).float().mean())


def evaluate(model: nn.Module, split: MnistSplit, device: torch.device | str = "cpu",
             n: int | None = None) -> EvalResult:
    """Accuracy, per-class accuracy and confusion matrix on the first n images of `split`."""
    x = split.float_images(device, n)
    labels = split.labels[: x.shape[0]].numpy()
    probs = predict_logits(model, x).softmax(1).cpu()
    conf, preds = probs.max(1)
    preds_np = preds.numpy()
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (labels, preds_np), 1)
    per_class = (np.diag(confusion) / np.maximum(confusion.sum(1), 1)).tolist()
    return EvalResult(float((preds_np == labels).mean()), per_class, confusion, preds_np, conf.numpy(), labels)


def train_classifier(model: nn.Module, cfg: TrainConfig, train: MnistSplit, test: MnistSplit | None,
                     device: torch.device | str = "cpu",
                     should_stop: Callable[[], bool] | None = None) -> Iterator[TrainEvent]:
    """Train `model` in place with recipe `cfg`, yielding TrainEvents; stops early when should_stop()."""
    validate_config(cfg)
    device = torch.device(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model.to(device).train()
    channels_last = uses_conv(model)
    if channels_last:  # oneDNN's convolutions are ~1.3x faster on NHWC tensors here
        model.to(memory_format=torch.channels_last)

    # The whole training set lives on the device as uint8; batches are index slices of it.
    order = torch.randperm(len(train), generator=gen)[: min(cfg.train_size, len(train))]
    images, labels = train.images[order].to(device), train.labels[order].to(device)
    n = images.shape[0]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    eval_x = eval_y = None
    if test is not None and cfg.eval_every:
        eval_x = test.float_images(device, cfg.eval_size)
        if channels_last:
            eval_x = eval_x.contiguous(memory_format=torch.channels_last)
        eval_y = test.labels[: eval_x.shape[0]].to(device)

    opt = make_optimizer(model, cfg)
    sched = _scheduler(opt, cfg, total)
    start = time.perf_counter()
    loss_sum, loss_n, step, seen = 0.0, 0, 0, 0
    perm = torch.empty(0, dtype=torch.long)
    stopped = False
    while step < total:
        if step % steps_per_epoch == 0:
            perm = torch.randperm(n, generator=gen).to(device)
        i = (step % steps_per_epoch) * cfg.batch_size
        idx = perm[i:i + cfg.batch_size]
        xb = images[idx].unsqueeze(1).float().div_(255.0)  # (B, 1, 28, 28) in [0, 1]
        yb = labels[idx]
        if cfg.augment.enabled:
            xb = augment_batch(xb, yb, cfg.augment, gen)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(xb), yb, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        step += 1
        seen += idx.shape[0]
        loss_sum += float(loss.detach())
        loss_n += 1
        stopped = bool(should_stop and should_stop())
        is_eval = eval_x is not None and step % cfg.eval_every == 0
        last = step == total or stopped
        if is_eval or last or step % cfg.log_every == 0:
            acc = accuracy_on(model, eval_x, eval_y) if (is_eval or (last and eval_x is not None)) else None
            elapsed = time.perf_counter() - start
            yield TrainEvent(step, total, seen / n, seen, loss_sum / max(loss_n, 1), acc, elapsed,
                             seen / max(elapsed, 1e-9), done=last, stopped=stopped)
            loss_sum, loss_n = 0.0, 0
        if stopped:
            break
    if channels_last:
        model.to(memory_format=torch.contiguous_format)  # callers get an ordinary model back
    model.eval()


@dataclass(frozen=True)
class Scored:
    """The end of a fit_and_score run: the full test-set result and the metrics a checkpoint records."""

    result: EvalResult
    metrics: dict[str, Any]
    last: TrainEvent | None  # the final training event (None when no step ran)


def fit_and_score(model: nn.Module, cfg: TrainConfig, train: MnistSplit, test: MnistSplit,
                  device: torch.device | str = "cpu",
                  should_stop: Callable[[], bool] | None = None) -> Iterator[TrainEvent | Scored]:
    """Train `model` in place (yielding each TrainEvent), then score exactly the weights a checkpoint stores on
    the full test set and yield one Scored: the one path from training to metrics (CLI and app alike)."""
    from .checkpoints import round_trip_weights  # checkpoints imports models only: no cycle, kept lazy anyway

    start = time.perf_counter()
    last = None
    for ev in train_classifier(model, cfg, train, test, device, should_stop):
        last = ev
        yield ev
    seconds = time.perf_counter() - start
    round_trip_weights(model)  # metrics must describe exactly the stored (maybe fp16) weights
    result = evaluate(model, test, device)
    metrics = {"accuracy": result.accuracy, "per_class": result.per_class, "epochs": cfg.epochs,
               "train_seconds": round(seconds, 1), "device": str(torch.device(device)),
               "steps": last.step if last else 0, "params": sum(p.numel() for p in model.parameters())}
    yield Scored(result, metrics, last)
