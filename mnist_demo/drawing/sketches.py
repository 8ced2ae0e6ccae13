"""Render MNIST digits the way the app's sketchpad delivers drawings (for tests and the sketch benchmark).

Two renderers: "bitmap" upscales the digit and thresholds it to a pen-like mask; "stroke" skeletonises
the digit and redraws the skeleton with a round pen of the chosen radius, as a person's stroke would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .preprocess import resized

CANVAS = 280  # the app's pad (ui.common.CANVAS)
BRUSH_RADII = (3, 6, 9, 12, 16, 20)  # thin to thick pens on the 280 px pad; the app's default is 12


@dataclass(frozen=True)
class SketchSpec:
    """Where and how one digit is drawn on the pad."""

    height_frac: float = 0.7  # digit height / canvas height
    cx: float = 0.5  # centre, as a fraction of the canvas
    cy: float = 0.5
    radius: float = 12.0  # pen radius in canvas px
    angle: float = 0.0  # degrees, counter-clockwise
    mode: str = "stroke"  # stroke | bitmap
    background: str = "white"  # white (opaque) | transparent


def _skeleton(mask: np.ndarray) -> np.ndarray:
    from skimage.morphology import skeletonize

    return skeletonize(mask)


def render_mask(digit: np.ndarray, spec: SketchSpec, canvas: int = CANVAS) -> np.ndarray:
    """Boolean ink mask (canvas, canvas) of a 28×28 digit (float [0, 1] or uint8) drawn per `spec`."""
    d = np.asarray(digit, np.float32)
    d = d / 255.0 if d.max() > 1 else d
    img = Image.fromarray((d * 255).astype(np.uint8))
    if spec.angle:
        img = img.rotate(spec.angle, resample=Image.BILINEAR, expand=True)
    a = np.asarray(img, np.float32) / 255
    ys, xs = np.nonzero(a > 0.2)
    a = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = spec.height_frac * canvas / a.shape[0]
    w, h = max(1, round(a.shape[1] * scale)), max(1, round(a.shape[0] * scale))
    big = resized(a, (w, h), Image.BICUBIC)
    if spec.mode == "stroke":
        ink = ndimage.distance_transform_edt(~_skeleton(big > 0.45)) <= spec.radius
    else:  # the digit's own thickness, scaled: a lower threshold paints thicker
        ink = big > 0.5
    out = np.zeros((canvas, canvas), bool)
    top = round(spec.cy * canvas - h / 2)
    left = round(spec.cx * canvas - w / 2)
    top, left = min(max(top, 0), max(canvas - h, 0)), min(max(left, 0), max(canvas - w, 0))
    hh, ww = min(h, canvas), min(w, canvas)
    out[top:top + hh, left:left + ww] = ink[:hh, :ww]
    return out


def to_pad_image(mask: np.ndarray, background: str = "white") -> np.ndarray:
    """RGBA uint8 as the browser paints it: black ink, on opaque white or on a transparent background."""
    h, w = mask.shape
    rgba = np.zeros((h, w, 4), np.uint8)
    if background == "white":
        rgba[..., :3] = np.where(mask[..., None], 0, 255)
        rgba[..., 3] = 255
    else:
        rgba[..., 3] = np.where(mask, 255, 0)  # transparent pixels have RGB 0, as the pad sends them
    return rgba


def render(digit: np.ndarray, spec: SketchSpec, canvas: int = CANVAS) -> np.ndarray:
    """One pad image (canvas, canvas, 4) of `digit` drawn per `spec`."""
    return to_pad_image(render_mask(digit, spec, canvas), spec.background)


def random_spec(rng: np.random.Generator, mode: str | None = None) -> SketchSpec:
    """A random placement: 25–90 % of the canvas height, anywhere it fits, any brush, ±15°.

    The pen is drawn from the brushes that still leave a legible digit (diameter ≤ 22 % of its height):
    a 70 px digit drawn with a 40 px pen is a blob that no reader, human or model, can name.
    """
    hf = float(rng.uniform(0.25, 0.9))
    legible = [r for r in BRUSH_RADII if 2 * r <= 0.22 * hf * CANVAS] or [BRUSH_RADII[0]]
    half = hf / 2 * 0.85  # digits are narrower than tall; keep them (mostly) on the canvas
    return SketchSpec(
        height_frac=hf,
        cx=float(rng.uniform(half, 1 - half)), cy=float(rng.uniform(hf / 2, 1 - hf / 2)),
        radius=float(rng.choice(legible)), angle=float(rng.uniform(-15, 15)),
        mode=mode or str(rng.choice(["stroke", "bitmap"])),
        background=str(rng.choice(["white", "transparent"])),
    )


def _pen_line(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float) -> np.ndarray:
    """`mask` with a round-pen segment from p0 to p1 ((x, y) canvas px) painted on."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-6), 0, 1)
    return mask | (np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy)) <= radius)


def add_style(mask: np.ndarray, label: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Canvas-level style strokes MNIST under-represents: crossed 7, flag-and-foot 1, curled-tail 9.

    Drawn with the pen on the pad (not the training augmentation's 28×28 edit), so the benchmark's
    style slice is not the training distribution.
    """
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return mask
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    h, w = y1 - y0 + 1, x1 - x0 + 1

    def row_x(y: int) -> float:
        cols = np.nonzero(mask[int(y)])[0]
        return float(cols.mean()) if cols.size else float((x0 + x1) / 2)

    if label == 7:
        y = y0 + rng.uniform(0.45, 0.62) * h
        half = max(w * rng.uniform(0.22, 0.32), 3 * radius)
        xc = row_x(y)
        return _pen_line(mask, (xc - half, y), (xc + half, y), radius)
    if label == 1:
        xt, xb = row_x(y0 + radius), row_x(y1 - radius)
        out = _pen_line(mask, (xt, y0 + radius), (xt - h * rng.uniform(0.18, 0.3), y0 + h * rng.uniform(0.15, 0.25)),
                        radius)
        if rng.random() < 0.7:
            foot = h * rng.uniform(0.15, 0.25)
            out = _pen_line(out, (xb - foot, y1 - radius), (xb + foot, y1 - radius), radius)
        return out
    if label == 9:
        xb = row_x(y1 - radius)
        dx = max(w * rng.uniform(0.25, 0.4), 2 * radius)
        out = _pen_line(mask, (xb, y1 - radius), (xb - dx, y1 - radius * 0.5), radius)
        return _pen_line(out, (xb - dx, y1 - radius * 0.5), (xb - dx * 1.2, y1 - h * rng.uniform(0.1, 0.18)), radius)
    return mask


def build_suite(n: int, n_style: int, seed: int = 2024) -> list[dict]:
    """A fixed, seeded suite from the MNIST test set: dicts with image (RGBA pad), label and slice tags.

    n regular drawings (alternating bitmap and stroke renderings) and n_style style drawings
    (crossed 7s, flagged 1s, curled 9s) drawn with the pen."""
    from ..data import load_mnist

    test = load_mnist(train=False)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(test), n, replace=False)
    suite = []
    for k, i in enumerate(idx):
        spec = random_spec(rng, mode="stroke" if k % 2 else "bitmap")
        mask = render_mask(test.images[i].numpy(), spec)
        suite.append({"image": to_pad_image(mask, spec.background), "label": int(test.labels[i]),
                      "tags": [spec.mode, spec.background, "regular"]})
    labels = test.labels.numpy()
    for k in range(n_style):
        digit = (1, 7, 9)[k % 3]
        i = int(rng.choice(np.nonzero(labels == digit)[0]))
        spec = random_spec(rng, mode="stroke")
        mask = add_style(render_mask(test.images[i].numpy(), spec), digit, spec.radius, rng)
        suite.append({"image": to_pad_image(mask, spec.background), "label": digit,
                      "tags": ["stroke", spec.background, "style", f"style-{digit}"]})
    return suite
