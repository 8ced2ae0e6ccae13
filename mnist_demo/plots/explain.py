"""Figures for "Why this digit?" and predict-while-training, from plain arrays (numpy + matplotlib only)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from .charts import DIGIT_COLOURS
from .style import new_figure

MAP_CMAP = "RdBu_r"  # diverging: red = for the class, blue = against it, white = no effect
INK_LEVEL = 0.35  # the input's ink is outlined at this pixel value so the digit shows through the map

GUIDES = {
    "integrated": "red ink raises p({d}), blue ink lowers it (integrated gradients from a black image)",
    "grad_x_input": "red ink raises p({d}), blue ink lowers it (gradient × input)",
    "gradient": "red: more ink here would raise p({d}); blue: would lower it (raw gradient)",
    "occlusion": "red: hiding this area lowers p({d}), so the model relies on it; blue: hiding it raises p({d})",
}



def _symmetric(a: np.ndarray) -> float:
    v = float(np.nanmax(np.abs(a))) if a.size else 0.0
    return v if v > 0 and np.isfinite(v) else 1e-6


def _overlay(fig: Figure | SubFigure, ax: Axes, image: np.ndarray, amap: np.ndarray, title: str,
             label: str) -> None:
    """A signed map on the 28×28 grid, the input's ink outlined on top, and a colour bar."""
    v = _symmetric(amap)
    im = ax.imshow(amap, cmap=MAP_CMAP, vmin=-v, vmax=v, interpolation="nearest")
    if np.ptp(image) > 0:
        ax.contour(image, levels=[INK_LEVEL], colors="black", linewidths=0.9)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)


def map_overlay(image: np.ndarray, amap: np.ndarray, title: str, guide: str, label: str = "") -> Figure:
    """One map (28, 28) overlaid on the input (28, 28) with a colour bar and a one-line reading guide."""
    fig = new_figure(4.2, 4.0)
    _overlay(fig, fig.add_subplot(), np.asarray(image), np.asarray(amap), title, label)
    fig.supxlabel(guide, fontsize=8, wrap=True)
    return fig


def class_maps(image: np.ndarray, saliency: np.ndarray, occlusion: np.ndarray, digit: int, prob: float,
               runner_up: bool = False, method: str = "integrated") -> Figure:
    """Saliency and occlusion for one class side by side: 'Why a 7?' or 'What would make it a 9?'."""
    fig = new_figure(7.6, 3.9)
    p = f"{prob:.3f}" if prob >= 0.001 else f"{prob:.1e}"
    head = (f"What would make it a {digit}? (runner-up, p = {p})" if runner_up
            else f"Why a {digit}? (top class, p = {p})")
    fig.suptitle(head, fontsize=12, fontweight="bold")
    guide_s = GUIDES.get(method, GUIDES["integrated"]).format(d=digit)
    guide_o = GUIDES["occlusion"].format(d=digit)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    _overlay(fig, ax1, image, saliency, "Saliency", f"contribution to log p({digit})")
    _overlay(fig, ax2, image, occlusion, "Occlusion (6×6 patch blanked)", f"drop of p({digit})")
    ax1.set_xlabel(_wrap(guide_s), fontsize=8)
    ax2.set_xlabel(_wrap(guide_o), fontsize=8)
    return fig


def _wrap(text: str, width: int = 48) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return "\n".join([*lines, cur])


def _mosaic(maps: np.ndarray, ncols: int) -> np.ndarray:
    """(C, H, W) -> one (rows*(H+1)-1, cols*(W+1)-1) image with NaN gutters (drawn blank) between the maps."""
    c, h, w = maps.shape
    nc = min(c, ncols)
    nr = int(np.ceil(c / nc))
    out = np.full((nr * (h + 1) - 1, nc * (w + 1) - 1), np.nan, np.float32)
    for i in range(c):
        r, k = divmod(i, nc)
        out[r * (h + 1): r * (h + 1) + h, k * (w + 1): k * (w + 1) + w] = maps[i]
    return out


def feature_map_grid(layers: Sequence[tuple[str, np.ndarray]], ncols: int = 16,
                     title: str = "Conv feature maps for your drawing") -> Figure:
    """Every conv layer's maps (C, H, W), one block per layer titled with its label and shape.

    Each layer is one mosaic image in one axes (not one axes per map): about ten times cheaper to draw.
    """
    if not layers:
        fig = new_figure(6, 1.2)
        fig.text(0.5, 0.5, "This model has no convolution layers.", ha="center", va="center")
        return fig
    # 1×1 maps (e.g. LeNet-5's C5: 120 values) are laid out as a strip of single pixels.
    mosaics = [_mosaic(m, ncols) if m.shape[1] * m.shape[2] > 1 else _mosaic(m, 40) for _, m in layers]
    heights = [0.35 + 6.6 * mo.shape[0] / max(mo.shape[1], 1) for mo in mosaics]
    fig = new_figure(8.4, sum(heights) + 0.5)
    fig.suptitle(title, fontsize=12, fontweight="bold")
    axes = fig.subplots(len(layers), 1, squeeze=False, height_ratios=heights)[:, 0]
    cmap = matplotlib.colormaps[MAP_CMAP].with_extremes(bad="white")
    for ax, (label, maps), mo in zip(axes, layers, mosaics):
        c, h, w = maps.shape
        v = _symmetric(maps)
        im = ax.imshow(mo, cmap=cmap, vmin=-v, vmax=v, interpolation="nearest")
        ax.set_title(f"{label} → output {c}×{h}×{w}" + (" (one value per map)" if h * w == 1 else ""),
                     fontsize=9, loc="left")
        ax.set_axis_off()
        fig.colorbar(im, ax=ax, shrink=0.9, aspect=12)
    return fig


def lstm_states(image: np.ndarray, states: np.ndarray, row_digits: Sequence[int] | None = None) -> Figure:
    """The LSTM's hidden state after each row (28, H) next to the rows it read, with its running answer."""
    fig = new_figure(8.0, 4.2)
    fig.suptitle(f"LSTM hidden state over rows ({states.shape[0]} rows × {states.shape[1]} units)",
                 fontsize=12, fontweight="bold")
    gs = fig.add_gridspec(1, 2, width_ratios=[1, 2.6])
    ax0 = fig.add_subplot(gs[0])
    ax0.imshow(image, cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax0.set_title("input, read top to bottom", fontsize=9)
    ax0.set_yticks(range(0, 28, 3))
    ax0.set_ylabel("row (time step)")
    ax0.set_xticks([])
    ax1 = fig.add_subplot(gs[1], sharey=ax0)
    im = ax1.imshow(states, cmap=MAP_CMAP, vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax1.set_xlabel("hidden unit")
    ax1.set_title("memory after each row (tanh-bounded, −1…1)", fontsize=9)
    if row_digits is not None:
        sec = ax1.secondary_yaxis("right")
        sec.set_yticks(range(len(row_digits)), [str(int(d)) for d in row_digits], fontsize=7)
        sec.set_ylabel("digit it would answer if it stopped here", fontsize=8)
    fig.colorbar(im, ax=ax1, shrink=0.8, location="bottom", aspect=40)
    return fig


def probability_bar(probs: np.ndarray, title: str = "Probability per digit") -> Figure:
    """Ten small bars in the digits' colours, the most probable one outlined and labelled."""
    p = np.asarray(probs, float)
    fig = new_figure(3.6, 2.4)
    ax = fig.add_subplot()
    top = int(p.argmax())
    bars = ax.bar(range(10), p, color=DIGIT_COLOURS, edgecolor=["black" if d == top else "none" for d in range(10)],
                  lw=1.5)
    ax.text(bars[top].get_x() + bars[top].get_width() / 2, p[top], f"{p[top]:.2f}", ha="center", va="bottom",
            fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_xticks(range(10))
    ax.set_xlabel("digit")
    ax.set_ylabel("probability")
    ax.set_title(title, fontsize=10)
    return fig


def _lines(ax: Axes, steps: Sequence[int], probs: np.ndarray) -> None:
    for d in range(10):
        ax.plot(steps, probs[:, d], color=DIGIT_COLOURS[d], lw=1.6, marker="o", ms=2.5)
        if probs[-1, d] < 0.03:  # labels of the unlikely digits would pile up at 0
            continue
        ax.annotate(str(d), (steps[-1], probs[-1, d]), xytext=(4, 0), textcoords="offset points",
                    color=DIGIT_COLOURS[d], fontsize=9, fontweight="bold", va="center")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step")
    ax.set_ylabel("probability")
    ax.grid(alpha=0.3)


def watch_lines(steps: Sequence[int], probs: np.ndarray) -> Figure:
    """One line per digit: the model's probability for the visitor's drawing at each evaluation step."""
    fig = new_figure(5.6, 3.0)
    ax = fig.add_subplot()
    p = np.asarray(probs, float).reshape(-1, 10)
    if len(steps):
        _lines(ax, list(steps), p)
    ax.set_title("Your drawing, read at every evaluation step", fontsize=10)
    return fig


def watch_figure(steps: Sequence[int], probs: np.ndarray) -> Figure:
    """Predict-while-training in one figure: latest probabilities as bars, and a line per digit over steps."""
    p = np.asarray(probs, float).reshape(-1, 10)
    fig = new_figure(8.4, 2.9)
    gs = fig.add_gridspec(1, 2, width_ratios=[1, 2])
    ax0, ax1 = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    if len(steps):
        last, top = p[-1], int(p[-1].argmax())
        ax0.bar(range(10), last, color=DIGIT_COLOURS,
                edgecolor=["black" if d == top else "none" for d in range(10)], lw=1.5)
        ax0.set_title(f"now (step {steps[-1]}): a {top}, p = {last[top]:.2f}", fontsize=10)
        _lines(ax1, list(steps), p)
    else:
        ax0.set_title("no evaluation step yet", fontsize=10)
        ax1.text(0.5, 0.5, "Draw a digit on the Draw tab before you start training\nto watch the model read it.",
                 ha="center", va="center", transform=ax1.transAxes)
    ax0.set_ylim(0, 1.05)
    ax0.set_xticks(range(10))
    ax0.set_xlabel("digit")
    ax1.set_title("Your drawing, read at every evaluation step", fontsize=10)
    return fig
