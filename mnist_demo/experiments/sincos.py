"""Seed 002's RNN regression: learn cos(t) from sin(t) one window of length pi at a time, then extrapolate.

Step k feeds sin(t) for `window` points of t in [k*pi, (k+1)*pi) and fits cos(t) with MSE; the hidden state
is carried into the next window and detached (the seed's `h_state = h_state.data`). With the default
SinCosConfig and seed this repeats the seed's numbers exactly (torch.manual_seed(1) before building the net).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import SinCosConfig
from ..models import SinCosRNN, get_spec
from ..numbers import as_number, as_whole

CELLS = ("rnn", "lstm", "gru")
# The registry holds both recipes; benchmarks/sincos_mse.py measures them (median over seeds 0-4 of the
# last-10-step MSE).
_SPEC = get_spec("rnn_sin_cos")
PRESETS: dict[str, SinCosConfig] = {"seed": _SPEC.seed_recipe, "better": _SPEC.best_recipe}  # type: ignore[dict-item]
LIMITS = {"hidden": (1, 256), "steps": (1, 2000), "window": (2, 200)}


@dataclass(frozen=True)
class Extrapolation:
    """The trained net run on t it never trained on, continuing from its final hidden state."""

    t: np.ndarray  # (N,) unseen t, after the last training window
    x: np.ndarray  # (N,) sin(t), the input
    y: np.ndarray  # (N,) cos(t), the target
    y_hat: np.ndarray  # (N,) prediction
    mse: float


@dataclass(frozen=True)
class SinCosFrame:
    """One training step: the window it saw, what the net predicted before the update, and the loss."""

    step: int  # 1-based number of optimiser steps taken
    total: int  # configured number of steps
    t: np.ndarray  # (window,) t of this window
    x: np.ndarray  # (window,) sin(t)
    y: np.ndarray  # (window,) cos(t), the red target
    y_hat: np.ndarray  # (window,) the blue prediction (forward pass of this step, as the seed plots it)
    loss: float  # MSE of this window
    lr: float  # learning rate used for this step
    done: bool = False  # last frame of the run (finished or stopped)
    stopped: bool = False  # the run was stopped before `total`
    extrapolation: Extrapolation | None = None  # set on the last frame only


def validate(cfg: SinCosConfig) -> SinCosConfig:
    """The config with cell lower-cased and numbers checked; ValueError with a plain sentence otherwise."""
    cell = str(cfg.cell).lower()
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cfg.cell!r}")
    for name, (lo, hi) in LIMITS.items():
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {v!r}")
    if not (isinstance(cfg.lr, (int, float)) and math.isfinite(cfg.lr) and 0 < cfg.lr <= 1):
        raise ValueError(f"learning rate must be in (0, 1], got {cfg.lr!r}")
    if not (isinstance(cfg.lr_decay, (int, float)) and math.isfinite(cfg.lr_decay) and 0 < cfg.lr_decay <= 1):
        raise ValueError(f"lr decay must be in (0, 1] (1 = constant), got {cfg.lr_decay!r}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, (int, np.integer)) or cfg.seed < 0:
        raise ValueError(f"seed must be a whole number ≥ 0, got {cfg.seed!r}")
    return dataclasses.replace(cfg, cell=cell)


def window_data(k: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, sin t, cos t) float32 for window k: `window` points of [k*pi, (k+1)*pi), endpoint excluded (the seed)."""
    t = np.linspace(k * np.pi, (k + 1) * np.pi, window, dtype=np.float32, endpoint=False)
    return t, np.sin(t), np.cos(t)


def _detach(h: Any) -> Any:
    """Cut the graph to earlier windows; an LSTM state is a (h, c) tuple."""
    return tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()


def _forward(model: SinCosRNN, x: torch.Tensor, h: Any) -> tuple[torch.Tensor, Any]:
    """The seed's forward: Linear applied step by step and stacked (a single batched Linear differs in float32
    rounding, which 100 Adam steps grow to ~1e-5 in the loss; this keeps the seed's numbers bit for bit)."""
    r_out, h = model.rnn(x, h)  # (1, T, H)
    return torch.stack([model.out(r_out[:, i, :]) for i in range(r_out.size(1))], dim=1), h


def _as_input(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)[np.newaxis, :, np.newaxis])  # (1, T, 1)


@torch.no_grad()
def extrapolate(model: SinCosRNN, h: Any, first_window: int, windows: int, window: int) -> Extrapolation:
    """Run the net without learning on windows first_window … first_window+windows-1, carrying `h`."""
    ts, xs, ys, preds = [], [], [], []
    for k in range(first_window, first_window + windows):
        t, x, y = window_data(k, window)
        pred, h = _forward(model, _as_input(x), h)
        ts.append(t)
        xs.append(x)
        ys.append(y)
        preds.append(pred[0, :, 0].numpy())
    t, x, y, y_hat = (np.concatenate(a) for a in (ts, xs, ys, preds))
    return Extrapolation(t, x, y, y_hat, float(np.mean((y_hat - y) ** 2)))


def fit_sin_to_cos(cfg: SinCosConfig, should_stop: Callable[[], bool] | None = None,
                   extra_windows: int = 6) -> Iterator[SinCosFrame]:
    """Train a fresh SinCosRNN, yielding one frame per step; the last frame carries the extrapolation.

    `should_stop()` is asked after every step: when it returns True the frame of that step is the last one
    (done=True, stopped=True). Runs on the CPU: a 1×window sequence is too small to gain from a GPU.
    """
    cfg = validate(cfg)
    torch.manual_seed(cfg.seed)  # the seed's (commented-out) torch.manual_seed(1), before building the net
    model = SinCosRNN(cfg.cell, cfg.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loss_fn = nn.MSELoss()
    h: Any = None  # the seed's h_state = None: zeros for the first window
    for k in range(cfg.steps):
        t, x, y = window_data(k, cfg.window)
        pred, h = _forward(model, _as_input(x), h)
        h = _detach(h)  # !! the seed's "next step is important": truncated back-propagation
        loss = loss_fn(pred, _as_input(y))
        opt.zero_grad()
        loss.backward()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        if cfg.lr_decay != 1.0:
            for group in opt.param_groups:
                group["lr"] *= cfg.lr_decay
        stopped = k + 1 < cfg.steps and should_stop is not None and should_stop()
        done = stopped or k + 1 == cfg.steps
        extra = extrapolate(model, h, k + 1, extra_windows, cfg.window) if done and extra_windows > 0 else None
        yield SinCosFrame(k + 1, cfg.steps, t, x, y, pred.detach()[0, :, 0].numpy().copy(), float(loss.item()),
                          lr, done, stopped, extra)
        if stopped:
            return


def fit_losses(cfg: SinCosConfig) -> np.ndarray:
    """The loss of every step of one full run (no extrapolation), for tests and benchmarks."""
    return np.array([f.loss for f in fit_sin_to_cos(cfg, extra_windows=0)])


def last10_mse(losses: np.ndarray | list[float]) -> float:
    """Mean MSE of the last 10 steps (the issue's figure of merit)."""
    a = np.asarray(losses, dtype=np.float64)
    return float(a[-10:].mean())


def config_from_values(cell: Any, hidden: Any, lr: Any, steps: Any, window: Any, seed: Any,
                       lr_decay: Any = 1.0) -> SinCosConfig:
    """A validated SinCosConfig from loosely typed UI values (3.0 is fine for a whole number, 3.5 is not)."""

    return validate(SinCosConfig(cell=str(cell or ""), hidden=as_whole(hidden, "hidden"),
                                 lr=as_number(lr, "learning rate"), steps=as_whole(steps, "steps"),
                                 window=as_whole(window, "window"), seed=as_whole(seed, "seed"),
                                 lr_decay=as_number(lr_decay, "lr decay")))
