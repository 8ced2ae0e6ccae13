"""Figures for t-SNE maps of the last layer: the seed's digit glyphs or a scatter, and GIF frames."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .style import new_figure

# The seed's colours: cm.rainbow(int(255 * s / 9)) for digit s.
DIGIT_COLOURS = [colormaps["rainbow"](int(255 * d / 9)) for d in range(10)]
STYLES = ("seed", "scatter")


def _glyph_size(n: int) -> float:
    """Marker area (pt²) that keeps glyphs readable at 500 points and not a solid blob at 10,000."""
    return float(np.clip(30000.0 / max(n, 1), 10.0, 80.0))


def _limits(xy: np.ndarray, pad: float = 0.04) -> tuple[tuple[float, float], tuple[float, float]]:
    lo, hi = xy.min(0), xy.max(0)
    span = np.maximum(hi - lo, 1e-6)
    return (lo[0] - pad * span[0], hi[0] + pad * span[0]), (lo[1] - pad * span[1], hi[1] + pad * span[1])


def _draw_points(ax, xy: np.ndarray, labels: np.ndarray, style: str, size: float, alpha: float = 1.0) -> None:
    # One scatter call per digit with a mathtext glyph marker: the seed's digits-as-points look, but ~50x
    # faster than one Text artist per point (500 texts took ~0.5 s to draw; 10 scatters take ~0.05 s).
    for d in range(10):
        m = labels == d
        if not m.any():
            continue
        if style == "seed":
            ax.scatter(xy[m, 0], xy[m, 1], s=size, marker=f"${d}$", color=DIGIT_COLOURS[d], alpha=alpha,
                       linewidths=0)
        else:
            ax.scatter(xy[m, 0], xy[m, 1], s=size / 4, color=DIGIT_COLOURS[d], alpha=alpha, linewidths=0)


def _legend(ax, style: str, extra: Sequence[Line2D] = ()) -> None:
    if style == "seed":
        handles = [Line2D([], [], ls="", marker=f"${d}$", ms=9, color=DIGIT_COLOURS[d], label=str(d))
                   for d in range(10)]
    else:
        handles = [Line2D([], [], ls="", marker="o", ms=6, color=DIGIT_COLOURS[d], label=str(d)) for d in range(10)]
    ax.legend(handles=[*handles, *extra], loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              fontsize=8, title="true label", title_fontsize=8, handletextpad=0.3)


def tsne_map(embedding: np.ndarray, labels: np.ndarray, preds: np.ndarray | None = None, style: str = "seed",
             title: str = "Visualize last layer", drawing_xy: Sequence[float] | None = None,
             drawing_label: str = "your drawing", highlight: np.ndarray | None = None) -> Figure:
    """A 2-D map of N points coloured by true label; rings on misclassified points; a star for the drawing."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}: use one of {', '.join(STYLES)}")
    xy = np.asarray(embedding, dtype=float)
    labels = np.asarray(labels)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] != labels.shape[0]:
        raise ValueError(f"embedding must be (N, 2) with N labels, got {xy.shape} and {labels.shape}")
    fig = new_figure(7.2, 6.0)
    ax = fig.add_subplot()
    size = _glyph_size(len(xy))
    dim = highlight is not None and np.asarray(highlight).any()
    _draw_points(ax, xy, labels, style, size, alpha=0.25 if dim else 1.0)
    extra: list[Line2D] = []
    if dim:
        h = np.asarray(highlight, bool)
        _draw_points(ax, xy[h], labels[h], style, size * 1.6)
        extra.append(Line2D([], [], ls="", marker="o", ms=7, mfc="0.35", mec="black",
                            label=f"selected ({h.sum()}), bold"))
    if preds is not None:
        wrong = np.asarray(preds) != labels
        if wrong.any():
            ax.scatter(xy[wrong, 0], xy[wrong, 1], s=size * 2.2, facecolors="none", edgecolors="black",
                       linewidths=0.9)
        extra.append(Line2D([], [], ls="", marker="o", ms=8, mfc="none", mec="black",
                            label=f"misclassified ({int(wrong.sum())})"))
    (x0, x1), (y0, y1) = _limits(xy)
    if drawing_xy is not None:
        dx, dy = float(drawing_xy[0]), float(drawing_xy[1])
        ax.scatter([dx], [dy], s=420, marker="*", color="gold", edgecolors="black", linewidths=1.4, zorder=5)
        ax.annotate(drawing_label, (dx, dy), xytext=(8, 8), textcoords="offset points", fontsize=10,
                    fontweight="bold", zorder=6, bbox={"boxstyle": "round", "fc": "white", "alpha": 0.85})
        extra.append(Line2D([], [], ls="", marker="*", ms=13, mfc="gold", mec="black", label=drawing_label))
        x0, x1, y0, y1 = min(x0, dx), max(x1, dx), min(y0, dy), max(y1, dy)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    _legend(ax, style, extra)
    return fig


def tsne_frame(embedding: np.ndarray, labels: np.ndarray, step: int, test_acc: float | None,
               style: str = "seed", size: tuple[float, float] = (5.0, 4.6), dpi: int = 80) -> Figure:
    """One animation frame: the seed's 'Visualize last layer' with the step and test accuracy in the title."""
    xy = np.asarray(embedding, dtype=float)
    labels = np.asarray(labels)
    fig = new_figure(*size, dpi=dpi)
    ax = fig.add_subplot()
    _draw_points(ax, xy, labels, style, _glyph_size(len(xy)) * 0.8)
    (x0, x1), (y0, y1) = _limits(xy)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    acc = "—" if test_acc is None else f"{test_acc:.1%}"
    ax.set_title(f"Visualize last layer · step {step} · test accuracy {acc}", fontsize=10)
    return fig


def figure_rgb(fig: Figure) -> np.ndarray:
    """Render a Figure to an (H, W, 3) uint8 array (for GIF frames)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
