"""MNIST training digits drawn on the app's pad and read back through `preprocess`: training data that
looks like what the models see from a visitor's drawing.

Clean MNIST plus batch augmentation leaves a gap to real pad drawings (a round pen of constant width,
skeleton strokes, bitmaps cut at a threshold, then the crop/fit/centre/width steps). Rendering training
digits through the very pipeline the app uses closes it. The renders come from the *training* split
with their own seed, so the sketch benchmark (test split, seed 2024) stays unseen.

Style strokes MNIST lacks (a 1's flag and foot, a 7's crossbar, a 9's curled tail) are drawn on the canvas
before preprocessing, as a visitor's pen adds them, so the crop, the 20-px fit and the width step see them
(`augment.style_edit` works on 28×28 after preprocessing and misses that). They are written independently
of the benchmark's `sketches.add_style` (other shapes and ranges), so its style slice still measures
generalisation.

Rendering needs scikit-image (a dev requirement) and takes ~10 ms per digit, so results are cached
as a tensor file under MNIST_CACHE_DIR/renders (default `.cache/renders/`, git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from ..config import cache_dir
from ..data import MnistSplit, load_mnist
from ..fileio import atomic_write

STYLE_P = 0.4  # share of the 1s, 7s and 9s that get a style stroke
VERSION = 2  # bump when the renders change: the cache file name carries it


def _stroke(mask: np.ndarray, points: list[tuple[float, float]], radius: float) -> np.ndarray:
    """`mask` with a round-pen polyline through `points` ((x, y) canvas px) painted on."""
    h, w = mask.shape
    x0 = int(max(min(p[0] for p in points) - radius - 1, 0))
    x1 = int(min(max(p[0] for p in points) + radius + 2, w))
    y0 = int(max(min(p[1] for p in points) - radius - 1, 0))
    y1 = int(min(max(p[1] for p in points) + radius + 2, h))
    if x1 <= x0 or y1 <= y0:
        return mask
    yy, xx = np.mgrid[y0:y1, x0:x1]
    ink = np.zeros(yy.shape, bool)
    for (ax, ay), (bx, by) in pairwise(points):
        dx, dy = bx - ax, by - ay
        t = np.clip(((xx - ax) * dx + (yy - ay) * dy) / max(dx * dx + dy * dy, 1e-6), 0, 1)
        ink |= np.hypot(xx - (ax + t * dx), yy - (ay + t * dy)) <= radius
    out = mask.copy()
    out[y0:y1, x0:x1] |= ink
    return out


def style_stroke(mask: np.ndarray, label: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """A canvas mask with a pen-drawn style stroke for 1 (flag, maybe a foot), 7 (crossbar) or 9 (curled tail)."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0 or label not in (1, 7, 9):
        return mask
    top, bot, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    h, w = bot - top + 1, right - left + 1

    def x_at(y: float) -> float:
        cols = np.nonzero(mask[int(np.clip(y, 0, mask.shape[0] - 1))])[0]
        return float(cols.mean()) if cols.size else float((left + right) / 2)

    if label == 1:
        ty = top + 0.6 * radius
        tx = x_at(ty)
        ang = np.radians(rng.uniform(200, 245))  # down and to the left
        length = h * rng.uniform(0.12, 0.38)
        out = _stroke(mask, [(tx, ty), (tx + length * np.cos(ang), ty - length * np.sin(ang))], radius)
        if rng.random() < 0.6:
            by = bot - 0.6 * radius
            bx = x_at(by)
            half = max(h * rng.uniform(0.1, 0.3), 1.5 * radius)
            tilt = h * rng.uniform(-0.03, 0.03)
            out = _stroke(out, [(bx - half, by + tilt), (bx + half, by - tilt)], radius)
        return out
    if label == 7:
        y = top + h * rng.uniform(0.38, 0.66)
        xc = x_at(y) + w * rng.uniform(-0.05, 0.05)
        half = max(w * rng.uniform(0.15, 0.36), 2.5 * radius)
        tilt = half * np.tan(np.radians(rng.uniform(-8, 8)))
        return _stroke(mask, [(xc - half, y + tilt), (xc + half, y - tilt)], radius)
    by = bot - 0.6 * radius  # 9: the tail's end hooks left and up, as a short curve
    bx = x_at(by)
    reach = max(w * rng.uniform(0.2, 0.5), 2 * radius)
    lift = h * rng.uniform(0.04, 0.22)
    arc = np.linspace(0, np.pi / 2, 5)
    pts = [(bx - reach * np.sin(a), by - lift * (1 - np.cos(a)) + radius * 0.3 * np.sin(a)) for a in arc]
    return _stroke(mask, pts, radius)


def _render_chunk(args: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    from .preprocess import preprocess
    from .sketches import random_spec, render_mask, to_pad_image

    digits, labels, seed = args
    rng = np.random.default_rng(seed)
    out = np.zeros((len(digits), 28, 28), np.uint8)
    for k, (d, y) in enumerate(zip(digits, labels)):
        spec = random_spec(rng)
        mask = render_mask(d, spec)
        if y in (1, 7, 9) and rng.random() < STYLE_P:
            mask = style_stroke(mask, int(y), spec.radius, rng)
        pre = preprocess(to_pad_image(mask, spec.background))
        if pre is not None:  # never for real digits; a blank row would teach nothing, so keep the source
            out[k] = np.round(pre.image * 255).astype(np.uint8)
        else:
            out[k] = d
    return out


def render_pad_set(split: MnistSplit, n: int, seed: int = 7, workers: int = 1) -> MnistSplit:
    """n digits of `split` (a seeded choice) drawn on the pad and preprocessed, as a uint8 MnistSplit."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(split), min(n, len(split)), replace=False))
    digits = split.images[torch.from_numpy(idx)].numpy()
    labels = split.labels[torch.from_numpy(idx)].numpy()
    chunks = [(digits[i:i + 500], labels[i:i + 500], seed * 100_003 + i) for i in range(0, len(digits), 500)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_render_chunk, chunks))
    else:
        parts = [_render_chunk(c) for c in chunks]
    images = torch.from_numpy(np.concatenate(parts))
    return MnistSplit(images.contiguous(), torch.from_numpy(labels))


def cached_split(path: Path, render: Callable[[int], MnistSplit], workers: int | None = None) -> MnistSplit:
    """The split stored at `path`, else render(workers) written there atomically (rendering takes minutes)."""
    if path.exists():
        blob = torch.load(path, weights_only=True)
        return MnistSplit(blob["images"], blob["labels"])
    split = render(workers or max(1, min(2, os.cpu_count() or 1)))
    atomic_write(path, lambda fh: torch.save({"images": split.images, "labels": split.labels}, fh), public=False)
    return split


def followed_by(train: MnistSplit, extra: MnistSplit) -> MnistSplit:
    """`train` with `extra`'s digits appended."""
    return MnistSplit(torch.cat([train.images, extra.images]), torch.cat([train.labels, extra.labels]))


def pad_renders(n: int, seed: int = 7, workers: int | None = None) -> MnistSplit:
    """The cached pad-rendered training subset of size n (rendered and cached on first use)."""
    return cached_split(cache_dir("renders") / f"pad_train_{n}_{seed}_v{VERSION}.pt",
                        lambda w: render_pad_set(load_mnist(train=True), n, seed, w), workers)


def with_renders(train: MnistSplit, n: int, make: Callable[[int], MnistSplit]) -> MnistSplit:
    """`train` followed by make(n) rendered digits (train unchanged when n is 0)."""
    return followed_by(train, make(n)) if n > 0 else train


def with_pad_renders(train: MnistSplit, n: int, seed: int = 7) -> MnistSplit:
    """`train` followed by n pad-rendered training digits (train unchanged when n is 0)."""
    return with_renders(train, n, lambda k: pad_renders(k, seed))


def render_cli(make: Callable[[int], MnistSplit], what: str, default_n: int) -> None:
    """`python -m ... N`: render and cache N digits ahead of training, and say where they went."""
    import sys
    import time

    t0 = time.perf_counter()
    s = make(int(sys.argv[1]) if len(sys.argv) > 1 else default_n)
    print(f"{len(s)} {what} ready in {time.perf_counter() - t0:.0f} s -> {cache_dir('renders')}")


if __name__ == "__main__":  # python -m mnist_demo.drawing.pad_renders N: render and cache ahead of training
    render_cli(pad_renders, "pad renders", 20_000)
