"""Figures for the sequence models: the sin→cos fit (frames, loss, extrapolation, GIF) and the LSTM row reader.

Plain arrays in, matplotlib Figures (or uint8 images) out; no model code. The GIF writer uses PIL.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .style import new_figure

TARGET, PREDICTION, INPUT = "tab:red", "tab:blue", "0.7"  # the seed draws the target red and the prediction blue
Y_LIM = (-1.6, 1.6)



def _pi_ticks(ax, t0: float, t1: float) -> None:
    """x ticks at multiples of pi, at most ~10 of them."""
    k0, k1 = int(np.floor(t0 / np.pi)), int(np.ceil(t1 / np.pi))
    every = max(1, (k1 - k0) // 10 + 1)
    ks = range(k0 - k0 % every, k1 + 1, every)
    ax.set_xticks([k * np.pi for k in ks], [f"{k}π" if k else "0" for k in ks])


def sincos_frame(t: np.ndarray, y: np.ndarray, y_hat: np.ndarray, x: np.ndarray | None = None,
                 title: str = "") -> Figure:
    """Target cos(t) (red) and the net's prediction (blue) over the windows seen so far; sin(t) input in grey."""
    fig = new_figure(6.4, 2.8)
    ax = fig.add_subplot()
    if x is not None:
        ax.plot(t, x, color=INPUT, lw=1, label="input sin(t)")
    ax.plot(t, y, color=TARGET, lw=2, label="target cos(t)")
    ax.plot(t, y_hat, color=PREDICTION, lw=1.6, label="prediction")
    ax.set_ylim(*Y_LIM)
    if len(t):
        _pi_ticks(ax, float(t[0]), float(t[-1]))
    ax.set_xlabel("t")
    ax.legend(loc="upper right", fontsize=8, ncols=3)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


def sincos_loss(steps: Sequence[int], losses: Sequence[float], title: str = "MSE per step") -> Figure:
    """The loss of every window on a log axis (the first steps are ~100× the last)."""
    fig = new_figure(5, 2.8)
    ax = fig.add_subplot()
    ax.semilogy(steps, np.maximum(np.asarray(losses, float), 1e-8), color="tab:purple", lw=1.4)
    ax.set_xlabel("step")
    ax.set_ylabel("MSE (log)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title)
    return fig


def sincos_extrapolation(t_train: np.ndarray, y_train: np.ndarray, yhat_train: np.ndarray,
                         t_new: np.ndarray, y_new: np.ndarray, yhat_new: np.ndarray, mse: float) -> Figure:
    """The last training windows and then unseen t, where the trained net runs on without learning."""
    fig = new_figure(7.5, 3)
    ax = fig.add_subplot()
    if len(t_new):
        ax.axvspan(float(t_new[0]), float(t_new[-1]), color="gold", alpha=0.15, lw=0)
        ax.text(float(t_new[0]), Y_LIM[1] * 0.92, "  unseen t (no learning)", fontsize=8, va="top")
    ax.plot(t_train, y_train, color=TARGET, lw=2, label="target cos(t)")
    ax.plot(t_train, yhat_train, color=PREDICTION, lw=1.6, label="prediction while training")
    ax.plot(t_new, y_new, color=TARGET, lw=2)
    ax.plot(t_new, yhat_new, color=PREDICTION, lw=1.6, ls="--", label="extrapolation")
    t_all = np.concatenate([t_train, t_new])
    if len(t_all):
        _pi_ticks(ax, float(t_all.min()), float(t_all.max()))
    ax.set_ylim(*Y_LIM)
    ax.set_xlabel("t")
    ax.legend(loc="lower left", fontsize=8, ncols=3)
    ax.grid(alpha=0.3)
    ax.set_title(f"Extrapolation on unseen t: MSE {mse:.5f}")
    return fig


class SinCosAnimator:
    """A small fixed figure for GIF frames, drawn by blitting: axes, grid and legend are drawn once, then each
    frame redraws only the two lines and the title (a few ms instead of ~50 ms for a full matplotlib draw).

    The x axis counts t from the start of the view (0 … windows·π); the title says where the view starts.
    """

    def __init__(self, windows: int = 8, width_px: int = 560, height_px: int = 240, dpi: int = 80) -> None:
        self.fig = new_figure(width_px / dpi, height_px / dpi, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        ax = self.fig.add_subplot()
        (self._y,) = ax.plot([], [], color=TARGET, lw=2, label="target cos(t)", animated=True)
        (self._p,) = ax.plot([], [], color=PREDICTION, lw=1.6, label="prediction", animated=True)
        ax.set_ylim(*Y_LIM)
        ax.set_xlim(0, windows * np.pi)
        ks = range(0, windows + 1, 2)
        ax.set_xticks([k * np.pi for k in ks], ["t₀"] + [f"t₀+{k}π" for k in ks[1:]])
        ax.tick_params(labelsize=8)
        ax.legend(loc="upper right", fontsize=8, ncols=2)
        ax.grid(alpha=0.3)
        self._title = ax.set_title("step 000/000 · MSE 0.0000 · t₀ = 000π", animated=True)
        self.ax = ax
        self.canvas.draw()  # settles the constrained layout with a title of typical length ...
        self.fig.set_layout_engine("none")  # ... then freezes it, so the saved background stays valid
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    def render(self, t: np.ndarray, y: np.ndarray, y_hat: np.ndarray, title: str = "") -> np.ndarray:
        """One frame as an (H, W, 3) uint8 image; t is shifted so the view starts at t₀ = t[0]."""
        t = np.asarray(t, float)
        t0 = float(t[0]) if len(t) else 0.0
        self._y.set_data(t - t0, y)
        self._p.set_data(t - t0, y_hat)
        self._title.set_text(f"{title} · t₀ = {t0 / np.pi:.0f}π" if title else f"t₀ = {t0 / np.pi:.0f}π")
        self.canvas.restore_region(self._background)
        for artist in (self._y, self._p, self._title):
            self.fig.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


# ---------- LSTM reader ----------

def row_highlight(img28: np.ndarray, row: int | None, scale: int = 8) -> np.ndarray:
    """The 28×28 input blown up (uint8 RGB) with rows already read bright, the current row outlined in orange
    and rows still unread dimmed; row is 1-based (None or 0 = nothing read yet)."""
    a = np.clip(np.nan_to_num(np.asarray(img28, np.float32)), 0, 1)
    if a.shape != (28, 28):
        raise ValueError(f"expected a 28×28 image, got shape {a.shape}")
    rgb = np.repeat(a[..., None], 3, axis=2) * 255
    r = 0 if row is None else int(row)
    rgb[r:] *= 0.35  # unread rows
    rgb[r:, :, 2] += 40  # a blue tint says "not read yet"
    big = np.clip(rgb, 0, 255).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    if 1 <= r <= 28:
        top, bot = (r - 1) * scale, r * scale
        big[top:bot, :, 0] = np.maximum(big[top:bot, :, 0], 200)  # the row being read, tinted orange
        big[top:bot, :, 1] = np.maximum(big[top:bot, :, 1], 110)
        big[max(top - 1, 0), :] = (255, 140, 0)
        big[min(bot, big.shape[0] - 1), :] = (255, 140, 0)
    return big


def rows_heatmap(probs: np.ndarray, row: int | None = None, title: str = "") -> Figure:
    """Rows × digits: the probability of each digit if the LSTM stopped after that row (rows run down)."""
    p = np.asarray(probs, float)
    fig = new_figure(4.6, 5.6)
    ax = fig.add_subplot()
    im = ax.imshow(p, cmap="viridis", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    top = p.argmax(1)
    ax.scatter(top, np.arange(len(p)), s=10, c="white", marker="o", lw=0)  # the digit it would answer
    if row:
        ax.axhline(row - 1, color="orange", lw=1.5)
    ax.set_xticks(range(10))
    ax.set_yticks(range(0, len(p), 3), [str(i + 1) for i in range(0, len(p), 3)])
    ax.set_xlabel("digit")
    ax.set_ylabel("rows read")
    fig.colorbar(im, ax=ax, shrink=0.8, label="probability")
    ax.set_title(title or "What it would answer after each row")
    return fig


def k_rows_accuracy(acc: np.ndarray, n_images: int, title: str = "") -> Figure:
    """Test accuracy if the LSTM had to answer after reading only the first k rows, k = 1…28."""
    acc = np.asarray(acc, float)
    k = np.arange(1, len(acc) + 1)
    fig = new_figure(6, 3)
    ax = fig.add_subplot()
    ax.plot(k, acc * 100, marker="o", ms=3, color="tab:green", lw=1.6)
    ax.axhline(10, color="0.6", ls=":", lw=1)
    ax.text(1, 11, "chance", fontsize=8, color="0.4")
    for thr in (50, 90):
        hit = np.nonzero(acc * 100 >= thr)[0]
        if hit.size:
            ax.annotate(f"{thr}% after {hit[0] + 1} rows", (hit[0] + 1, acc[hit[0]] * 100), fontsize=8,
                        xytext=(6, -12), textcoords="offset points")
    ax.set_xlim(0.5, len(acc) + 0.5)
    ax.set_ylim(0, 101)
    ax.set_xlabel("rows read (k)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title or f"Accuracy if it stops after k rows ({n_images:,} test images; full: {acc[-1]:.2%})")
    return fig
