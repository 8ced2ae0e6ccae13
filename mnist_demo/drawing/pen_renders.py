"""Training digits from the training writers' real pen trajectories, augmented on the trajectories and read
back through the app's preprocessing: the real-handwriting part of the best recipes (issue 16).

Augmentation acts where a visitor's hand differs: resampling (a mouse samples densely, a finger or a slow
event loop sparsely, with straight segments between), a smooth wobble, rotation, stretch, the spec's slant,
size, place and brush; and style edits people write that the writers here rarely did: a flag and foot on
1s, a crossbar on 7s, a curled tail on 9s, an open top on 4s. Only writers in pen_data.TRAIN_WRITERS are
used, so the held-out writers stay unseen. Cached under the pad renders' cache folder.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..data import MnistSplit
from .pen_data import TRAIN_WRITERS, PenDigit, load_pen_digits, random_pen_spec, render_pen

STYLE_P = 0.35  # share of the 1s, 4s, 7s and 9s that get a style edit
VERSION = 1  # bump when the renders change: the cache file name carries it


def resample(stroke: np.ndarray, step: float) -> np.ndarray:
    """The stroke re-sampled every `step` units of arc length (end points kept)."""
    if len(stroke) < 2:
        return stroke
    seg = np.hypot(*np.diff(stroke, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] <= step:
        return stroke[[0, -1]]
    at = np.append(np.arange(0.0, arc[-1], step), arc[-1])
    return np.stack([np.interp(at, arc, stroke[:, 0]), np.interp(at, arc, stroke[:, 1])], 1).astype(np.float32)


def _bbox(strokes: list[np.ndarray]) -> tuple[float, float, float, float]:
    pts = np.concatenate(strokes)
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def _x_at(strokes: list[np.ndarray], y: float) -> float:
    """x of the ink point closest to height y (y grows down)."""
    pts = np.concatenate(strokes)
    return float(pts[np.argmin(np.abs(pts[:, 1] - y)), 0])


def style_edit(strokes: list[np.ndarray], label: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Strokes with a style people write added: flag/foot on 1, crossbar on 7, curled tail on 9, open top on 4."""
    x0, y0, x1, y1 = _bbox(strokes)
    h, w = max(y1 - y0, 1.0), max(x1 - x0, 1.0)
    out = [s.copy() for s in strokes]
    seg = lambda a, b: np.array([a, b], np.float32)  # noqa: E731
    if label == 1:
        xt = _x_at(out, y0)
        out.insert(0, seg((xt - h * rng.uniform(0.12, 0.35), y0 + h * rng.uniform(0.08, 0.3)), (xt, y0)))
        if rng.random() < 0.6:
            xb, f = _x_at(out, y1), h * rng.uniform(0.12, 0.3)
            tilt = h * rng.uniform(-0.03, 0.03)
            out.append(seg((xb - f, y1 + tilt), (xb + f, y1 - tilt)))
    elif label == 7:
        y = y0 + h * rng.uniform(0.38, 0.66)
        xc = _x_at(out, y) + w * rng.uniform(-0.05, 0.05)
        half = max(w * rng.uniform(0.15, 0.36), 0.12 * h)
        tilt = half * np.tan(np.radians(rng.uniform(-8, 8)))
        out.append(seg((xc - half, y + tilt), (xc + half, y - tilt)))
    elif label == 9:
        k = int(np.argmax([s[:, 1].max() for s in out]))  # the stroke reaching lowest: the tail
        s = out[k] if out[k][-1, 1] >= out[k][0, 1] else out[k][::-1]
        (ex, ey), reach, lift = s[-1], max(w * rng.uniform(0.2, 0.5), 0.08 * h), h * rng.uniform(0.04, 0.22)
        arc = np.linspace(0, np.pi / 2, 6)[1:]
        hook = np.stack([ex - reach * np.sin(arc), ey - lift * (1 - np.cos(arc))], 1).astype(np.float32)
        out[k] = np.concatenate([s, hook])
    elif label == 4:
        s = out[0]
        left = int(np.argmin(s[:, 0]))
        if left > 0 and s[0, 1] < s[left, 1]:  # written from the top, down-left: straighten that diagonal
            s = s.copy()
            s[:left, 0] = s[left, 0] + (s[:left, 0] - s[left, 0]) * rng.uniform(0.0, 0.3)
            out[0] = s
    return out


def augment_strokes(digit: PenDigit, rng: np.random.Generator, style_p: float = STYLE_P) -> list[np.ndarray]:
    """One augmented copy of a real digit's trajectory: style edit, rotation, stretch, wobble, resampling."""
    strokes = [s.astype(np.float32) for s in digit.strokes]
    if digit.label in (1, 4, 7, 9) and rng.random() < style_p:
        strokes = style_edit(strokes, digit.label, rng)
    x0, y0, x1, y1 = _bbox(strokes)
    h = max(y1 - y0, x1 - x0, 1.0)
    a = np.radians(rng.uniform(-12, 12))
    sx = rng.uniform(0.75, 1.25)
    m = np.array([[np.cos(a) * sx, -np.sin(a)], [np.sin(a) * sx, np.cos(a)]], np.float32)
    out = []
    for s in strokes:
        s = s @ m.T
        if len(s) >= 7:  # a smooth wobble: noise low-passed along the stroke, ~1.5 % of the digit's size
            noise = rng.normal(scale=0.015 * h, size=s.shape)
            kernel = np.hanning(7)
            kernel /= kernel.sum()
            s = s + np.stack([np.convolve(noise[:, i], kernel, mode="same") for i in range(2)], 1)
        # A mouse reports every few pixels, a finger or a busy page every few dozen: straight segments between.
        out.append(resample(s.astype(np.float32), h * float(np.exp(rng.uniform(np.log(0.008), np.log(0.08))))))
    return out


def _render_chunk(args: tuple[list[PenDigit], int]) -> tuple[np.ndarray, np.ndarray]:
    from .preprocess import preprocess

    digits, seed = args
    rng = np.random.default_rng(seed)
    images = np.zeros((len(digits), 28, 28), np.uint8)
    labels = np.array([d.label for d in digits], np.int64)
    for k, d in enumerate(digits):
        pre = preprocess(render_pen(augment_strokes(d, rng), random_pen_spec(rng)))
        if pre is not None:  # never for a real digit; keep the row black if it ever were
            images[k] = np.round(pre.image * 255).astype(np.uint8)
    return images, labels


def render_pen_set(digits: list[PenDigit], n: int, seed: int = 11, workers: int = 1) -> MnistSplit:
    """n augmented renders cycling through `digits` (a seeded order), preprocessed, as a uint8 MnistSplit."""
    order = np.random.default_rng(seed).permutation(n) % len(digits)
    picked = [digits[i] for i in order]
    chunks = [(picked[i:i + 500], seed * 100_003 + i) for i in range(0, n, 500)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_render_chunk, chunks))
    else:
        parts = [_render_chunk(c) for c in chunks]
    return MnistSplit(torch.from_numpy(np.concatenate([p[0] for p in parts])).contiguous(),
                      torch.from_numpy(np.concatenate([p[1] for p in parts])))


def pen_renders(n: int, seed: int = 11, workers: int | None = None) -> MnistSplit:
    """The cached set of n renders of the training writers' digits (rendered and cached on first use)."""
    from .pad_renders import cached_split

    return cached_split(cache_path(n, seed), lambda w: render_pen_set(load_pen_digits(TRAIN_WRITERS), n, seed, w),
                        workers)


def cache_path(n: int, seed: int = 11) -> Path:
    """Where pen_renders(n, seed) is cached (under the pad renders' cache folder)."""
    from ..config import cache_dir

    return cache_dir("renders") / f"pen_train_{n}_{seed}_v{VERSION}.pt"


def with_pen_renders(train: MnistSplit, n: int, seed: int = 11) -> MnistSplit:
    """`train` followed by n renders of the training writers' pen digits (train unchanged when n is 0)."""
    from .pad_renders import with_renders

    return with_renders(train, n, lambda k: pen_renders(k, seed))


if __name__ == "__main__":  # python -m mnist_demo.drawing.pen_renders N: render and cache ahead of training
    from .pad_renders import render_cli

    render_cli(pen_renders, "pen renders", 30_000)
