"""Matplotlib figure builders from plain arrays (no model code, no pyplot state)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from .style import new_figure

DIGIT_COLOURS = [colormaps["rainbow"](i / 9) for i in range(10)]  # the seed's cm.rainbow per digit


def training_curves(steps: Sequence[int], losses: Sequence[float], acc_steps: Sequence[int],
                    accs: Sequence[float], title: str = "") -> Figure:
    """Training loss (left axis) and test accuracy (right axis) against step."""
    fig = new_figure(6, 3.2)
    ax = fig.add_subplot()
    ax.plot(steps, losses, color="tab:blue", lw=1.4, label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="tab:blue")
    ax.grid(alpha=0.3)
    if accs:
        ax2 = ax.twinx()
        ax2.plot(acc_steps, accs, color="tab:orange", marker="o", ms=3, lw=1.4, label="test accuracy")
        ax2.set_ylabel("test accuracy", color="tab:orange")
        ax2.set_ylim(min(0.8, min(accs)) - 0.02, 1.0)
    if title:
        ax.set_title(title)
    return fig


def per_class_bars(per_class: Sequence[float], title: str = "Accuracy per digit") -> Figure:
    """Ten bars, one per digit, zoomed to where the differences are."""
    fig = new_figure(6, 3)
    ax = fig.add_subplot()
    vals = np.asarray(per_class, float)
    bars = ax.bar(range(10), vals * 100, color=DIGIT_COLOURS, edgecolor="black", lw=0.5)
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, v * 100, f"{v:.1%}", ha="center", va="bottom", fontsize=8)
    lo = max(0.0, float(vals.min()) * 100 - 3)
    ax.set_ylim(lo, 100.8)
    ax.set_xticks(range(10))
    ax.set_xlabel("digit")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    return fig


def confusion_matrix(cm: np.ndarray, title: str = "Confusion matrix") -> Figure:
    """Counts with true labels as rows; the diagonal is dimmed so the mistakes stand out."""
    fig = new_figure(4.8, 4.4)
    ax = fig.add_subplot()
    cm = np.asarray(cm)
    off = cm.astype(float).copy()
    np.fill_diagonal(off, 0)
    ax.imshow(off, cmap="Reds", vmin=0, vmax=max(off.max(), 1))
    for i in range(10):
        for j in range(10):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="dimgray" if i == j else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return fig


def digit_grid(images: np.ndarray, titles: Sequence[str], ncols: int = 5, colours: Sequence[str] | None = None,
               title: str = "") -> Figure:
    """Small images (N, 28, 28) with a title each (e.g. the seed's 'Prediction: d' grid)."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig = new_figure(1.3 * ncols, 1.45 * nrows + (0.3 if title else 0))
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
        ax.set_title(titles[i], fontsize=9, color=(colours[i] if colours else "black"))
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def mean_digits(means: np.ndarray) -> Figure:
    """The mean image of each digit (10, 28, 28)."""
    return digit_grid(means, [f"mean {d}" for d in range(10)], ncols=10, title="The average of every digit")


def probability_bars(models: Sequence[str], probs: np.ndarray) -> Figure:
    """One row of ten probability bars per model: every model side by side on the same drawing."""
    probs = np.asarray(probs)
    fig = new_figure(6.4, 0.55 * len(models) + 0.9)
    ax = fig.add_subplot()
    ax.imshow(probs, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(probs.shape[0]):
        for j in range(10):
            if probs[i, j] >= 0.005:
                ax.text(j, i, f"{probs[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if probs[i, j] > 0.5 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(len(models)), list(models))
    ax.set_xlabel("digit")
    ax.set_title("Probability of each digit, per model")
    return fig
