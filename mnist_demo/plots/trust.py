"""Figures of the Trust tab from plain arrays: reliability diagrams and an attack on one drawing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .style import new_figure


def _curve(rel: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = [i for i, c in enumerate(rel["count"]) if c]
    return (np.array([rel["confidence"][i] for i in keep], float), np.array([rel["accuracy"][i] for i in keep], float),
            np.array([rel["count"][i] for i in keep], float))


def reliability_diagram(panels: Sequence[tuple[str, dict[str, Any], dict[str, Any]]], title: str = "") -> Figure:
    """One panel per (name, before, after) reliability dict (edges, confidence, accuracy, count, ece): accuracy
    against confidence per bin, before and after temperature scaling, on the diagonal of honesty. Dot area
    follows the share of answers in the bin (most sit in the top one)."""
    fig = new_figure(4.2 * max(1, len(panels)), 3.6)
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, (name, before, after) in zip(axes, panels):
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls=":", label="honest (accuracy = confidence)")
        for rel, colour, lab in ((before, "tab:red", "before"), (after, "tab:blue", "after")):
            c, a, n = _curve(rel)
            if len(c):
                ax.plot(c, a, color=colour, lw=1.4, alpha=0.8)
                ax.scatter(c, a, s=20 + 400 * n / n.sum(), color=colour, alpha=0.7,
                           label=f"{lab} scaling: ECE {rel['ece']:.2%}")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence (top-1 probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def attack_panels(clean: np.ndarray, adversarial: np.ndarray, ink: np.ndarray | None,
                  titles: Sequence[str]) -> Figure:
    """Clean drawing, perturbed image, their difference (red = brighter, blue = darker) and, when given, the
    ink-only attack (added ink in red on the drawing): 28×28 images in [0, 1]."""
    n = 4 if ink is not None else 3
    fig = new_figure(2.3 * n, 2.7)
    axes = fig.subplots(1, n)
    diff = np.asarray(adversarial, float) - np.asarray(clean, float)
    lim = max(float(np.abs(diff).max()), 1e-3)
    axes[0].imshow(clean, cmap="gray", vmin=0, vmax=1)
    axes[1].imshow(adversarial, cmap="gray", vmin=0, vmax=1)
    axes[2].imshow(diff, cmap="seismic", vmin=-lim, vmax=lim)
    if ink is not None:
        added = np.clip(np.asarray(ink, float) - np.asarray(clean, float), 0, 1)
        rgb = np.repeat(np.asarray(clean, float)[..., None], 3, 2)
        rgb = np.clip(rgb * (1 - added[..., None]) + added[..., None] * np.array([1.0, 0.15, 0.1]), 0, 1)
        axes[3].imshow(rgb)
    for ax, t in zip(axes, titles):
        ax.set_title(t, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
