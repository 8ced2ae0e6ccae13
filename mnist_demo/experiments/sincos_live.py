"""The sin→cos fit as an animation: paced views of a live fit (seed 002), its GIF and extrapolation, no UI code.

ui/sincos_tab.py shows these views; benchmarks/sincos_stream.py times them.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..config import SinCosConfig
from ..fileio import write_gif
from ..plots import sequence as plots_sequence
from .sincos import SinCosFrame, fit_sin_to_cos, window_data

VIEW_WINDOWS = 8  # the live view and the GIF follow the last 8 windows (4 periods) instead of squeezing 100
MAX_GIF_FRAMES = 150
TARGET, PRED = "target cos(t)", "prediction"



@dataclass
class SinCosView:
    """What the sin→cos tab shows after one frame."""

    frame: SinCosFrame
    fit: pd.DataFrame  # t, value, series over the last VIEW_WINDOWS windows
    loss: pd.DataFrame  # step, log10_mse
    status: str
    extrapolation: Figure | None = None  # last view only
    gif: Path | None = None  # last view only


def auto_every(steps: int, fps: float, seconds: float = 10.0) -> int:
    """Show every step unless the animation would outlast `seconds` at `fps`."""
    return max(1, math.ceil(steps / max(1.0, fps * seconds)))


def frame_count(steps: int, every: int) -> int:
    """Updates a run of `steps` sends when it shows every `every`-th step (the last step is always shown)."""
    return math.ceil(steps / every)


def sincos_stream(cfg: SinCosConfig, every: int = 0, fps: float = 20.0, should_stop: Callable[[], bool] | None = None,
                  gif_dir: Path | None = None) -> Iterator[SinCosView]:
    """Views of a live fit, paced at `fps` (0 = as fast as possible); the last one has extrapolation and GIF.

    The GIF frames are rendered in the pauses between updates, so pacing hides their cost.
    """
    if not 0 <= fps <= 60:
        raise ValueError(f"frames per second must be from 0 to 60, got {fps}")
    every = int(every) if every else auto_every(cfg.steps, fps or 20.0)
    if every < 1:
        raise ValueError(f"show every k-th step needs k ≥ 1 (0 = auto), got {every}")
    n_frames = frame_count(cfg.steps, every)
    gif_every = math.ceil(n_frames / MAX_GIF_FRAMES)
    interval = 1.0 / fps if fps else 0.0
    animator = plots_sequence.SinCosAnimator()
    gif_frames: list[np.ndarray] = []
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = []
    render_s = 0.05  # running estimate of one GIF frame's render time
    ts: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    ps: list[np.ndarray] = []
    steps: list[int] = []
    losses: list[float] = []
    shown = 0
    next_at = time.perf_counter()
    for f in fit_sin_to_cos(cfg, should_stop):
        ts.append(f.t)
        ys.append(f.y)
        ps.append(f.y_hat)
        steps.append(f.step)
        losses.append(f.loss)
        if f.step % every and not f.done:
            continue
        t, y, p = (np.concatenate(a[-VIEW_WINDOWS:]) for a in (ts, ys, ps))
        title = f"{cfg.cell.upper()} {cfg.hidden} · step {f.step}/{f.total} · MSE {f.loss:.4f}"
        if shown % gif_every == 0 or f.done:
            pending.append((t, y, p, title))
        shown += 1
        status = (f"Step **{f.step}/{f.total}** · MSE {f.loss:.5f} · mean of last 10: "
                  f"{float(np.mean(losses[-10:])):.5f} · lr {f.lr:.4g}")
        # x in t itself: in units of π every frame of the periodic target would sit on the same pixels (the
        # window moves by exactly one unit) and the animation would look still; in t the curves slide.
        fit = fit_frame(t, y, p)
        loss = pd.DataFrame({"step": steps, "log10_mse": np.log10(np.maximum(losses, 1e-12))})
        if not f.done:
            # Use the wait before the next update to render GIF frames, one at a time while time allows.
            while pending and (not interval or time.perf_counter() + render_s < next_at):
                t0 = time.perf_counter()
                gif_frames.append(animator.render(*pending.pop(0)))
                render_s = 0.7 * render_s + 0.3 * (time.perf_counter() - t0)
                if not interval:
                    break
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_at = max(next_at + interval, time.perf_counter() - interval)  # no burst to catch up after a stall
            yield SinCosView(f, fit, loss, status)
            continue
        gif_frames.extend(animator.render(*args) for args in pending)
        ex = f.extrapolation
        k = min(4, len(ts))
        extra_fig = None
        if ex is not None:
            extra_fig = plots_sequence.sincos_extrapolation(
                np.concatenate(ts[-k:]), np.concatenate(ys[-k:]), np.concatenate(ps[-k:]), ex.t, ex.y, ex.y_hat, ex.mse)
        folder = gif_dir or Path(tempfile.mkdtemp(prefix="sincos_"))
        step_ms = max(20, round(1000 / (fps or 20.0)))  # browsers clamp shorter GIF delays to 100 ms
        gif = write_gif(gif_frames, folder / f"sin_to_cos_{cfg.cell}{cfg.hidden}_seed{cfg.seed}.gif", step_ms, 1500,
                        colors=32)
        why = "Stopped" if f.stopped else "Done"
        extra_txt = f" On {len(ex.t)} points of unseen t it scores MSE **{ex.mse:.5f}**." if ex else ""
        status = (f"{why} after {f.step} of {f.total} steps: last-step MSE {f.loss:.5f}, mean of the last 10 steps "
                  f"**{float(np.mean(losses[-10:])):.5f}** (first step {losses[0]:.3f}).{extra_txt}")
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield SinCosView(f, fit, loss, status, extra_fig, gif)


def target_preview(window: int) -> pd.DataFrame:
    """The target cos(t) over the live view's width, shown before the first run; the prediction is empty.

    Both series must be in the first value: the browser's chart fixes its colour legend from it, and a
    series that was not there is never drawn later (gradio 6.31 updates only the data).
    """
    t, _, y = (np.concatenate(a) for a in zip(*(window_data(k, window) for k in range(VIEW_WINDOWS))))
    return fit_frame(t, y, np.full_like(y, np.nan))


def fit_frame(t: np.ndarray, target: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """The fit plot's long-form table: (t, value, series) rows for the target, then the prediction."""
    return pd.DataFrame({"t": np.concatenate([t, t]), "value": np.concatenate([target, pred]),
                         "series": [TARGET] * len(t) + [PRED] * len(t)})


def warm_up_sincos() -> None:
    """One tiny fit: imports what the first Start needs (torch._dynamo via Adam, 1-4 s)."""
    for _attempt in range(3):
        try:
            for _ in fit_sin_to_cos(SinCosConfig(hidden=2, steps=1), extra_windows=0):
                pass
            return
        except Exception:  # e.g. another app being built in this process traces LeNet-5 right now; retry
            time.sleep(1.0)
