"""Figures for the seed experiments: LeNet-5's first-layer filters and maps, the pixel-shuffle results."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

from .style import new_figure

ORIGINAL_COLOUR, SHUFFLED_COLOUR = "tab:blue", "tab:orange"


def _symmetric(a: np.ndarray) -> float:
    """Colour limit so that zero sits in the middle of a diverging map."""
    return float(np.abs(a).max()) or 1.0


def filters_grid(filters: np.ndarray, title: str = "C1's 6 filters (5×5 weights)") -> Figure:
    """Each first-layer kernel (n, k, k) on a diverging scale: red adds ink, blue subtracts it."""
    f = np.asarray(filters, dtype=np.float32)
    n = f.shape[0]
    fig = new_figure(1.25 * n + 0.8, 1.9)
    axes = fig.subplots(1, n, squeeze=False)[0]
    lim = _symmetric(f)
    im = None
    for i, ax in enumerate(axes):
        im = ax.imshow(f[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"filter {i + 1}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8, label="weight")
    fig.suptitle(title, fontsize=10)
    return fig


def feature_maps(image: np.ndarray, maps: np.ndarray, title: str = "C1's feature maps for your drawing") -> Figure:
    """The 28×28 input next to each first-layer map (n, 28, 28); red = strong response, blue = negative."""
    m = np.asarray(maps, dtype=np.float32)
    n = m.shape[0]
    fig = new_figure(1.45 * (n + 1) + 0.8, 2.1)
    axes = fig.subplots(1, n + 1, squeeze=False)[0]
    axes[0].imshow(np.asarray(image), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("input 28×28", fontsize=9)
    lim = _symmetric(m)
    im = None
    for i in range(n):
        im = axes[i + 1].imshow(m[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[i + 1].set_title(f"map {i + 1}", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=list(axes[1:]), shrink=0.8, label="response")
    fig.suptitle(title, fontsize=10)
    return fig


def shuffle_accuracy_bars(models: Sequence[str], original: Sequence[float], shuffled: Sequence[float],
                          original_runs: Sequence[Sequence[float]] | None = None,
                          shuffled_runs: Sequence[Sequence[float]] | None = None,
                          title: str = "Test accuracy before and after shuffling the pixels") -> Figure:
    """Grouped bars: per model, mean accuracy on original and on shuffled pixels; dots = single seeds."""
    x = np.arange(len(models))
    width = 0.36
    fig = new_figure(5.6, 3.4)
    ax = fig.add_subplot()
    groups = [("original pixels", original, original_runs, ORIGINAL_COLOUR, -width / 2),
              ("shuffled pixels", shuffled, shuffled_runs, SHUFFLED_COLOUR, width / 2)]
    lows = []
    for label, means, runs, colour, dx in groups:
        vals = 100 * np.asarray(means, dtype=float)
        bars = ax.bar(x + dx, vals, width, label=label, color=colour)
        # inside the bars, so the per-seed dots near the top stay readable
        ax.bar_label(bars, labels=[f"{v:.1f}%" for v in vals], label_type="center", color="white",
                     fontsize=9, fontweight="bold")
        lows.append(vals.min())
        if runs is not None:
            for i, seeds in enumerate(runs):
                pts = 100 * np.asarray(seeds, dtype=float)
                lows.append(pts.min() if pts.size else vals.min())
                ax.scatter(np.full(pts.shape, x[i] + dx), pts, s=10, color="black", zorder=3,
                           label="single seeds" if (i == 0 and dx > 0) else None)
    ax.set_xticks(x, list(models))
    ax.set_ylabel("test accuracy (%)")
    bottom = max(0.0, np.floor(min(lows) / 5) * 5 - 5)
    ax.set_ylim(bottom, 101)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=3, fontsize=8)  # below the axes: never on top of a bar
    ax.set_title(title, fontsize=10)
    return fig


def shuffle_examples(images: np.ndarray, shuffled: np.ndarray, labels: Sequence[int]) -> Figure:
    """Test digits (top row) and the same digits after the fixed pixel permutation (bottom row)."""
    a, b = np.asarray(images), np.asarray(shuffled)
    n = a.shape[0]
    fig = new_figure(1.05 * n + 0.9, 2.5)
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        axes[0, i].imshow(a[i], cmap="gray")
        axes[0, i].set_title(str(labels[i]), fontsize=9)
        axes[1, i].imshow(b[i], cmap="gray")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("original", fontsize=9)
    axes[1, 0].set_ylabel("shuffled", fontsize=9)
    fig.suptitle("Same images, same pixels, one fixed new order: an MLP sees no difference, a CNN's "
                 "neighbourhoods are gone", fontsize=9)
    return fig
