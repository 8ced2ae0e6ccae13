"""Render MNIST digits the way the app's sketchpad delivers drawings (for tests and the sketch benchmark).

Two renderers: "bitmap" upscales the digit and thresholds it to a pen-like mask; "stroke" skeletonises
the digit and redraws the skeleton with a round pen of the chosen radius, as a person's stroke would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

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
    big = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), np.float32) / 255
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
    """A random placement: 25–90 % of the canvas height, anywhere it fits, any brush, ±15°."""
    hf = float(rng.uniform(0.25, 0.9))
    half = hf / 2 * 0.85  # digits are narrower than tall; keep them (mostly) on the canvas
    return SketchSpec(
        height_frac=hf,
        cx=float(rng.uniform(half, 1 - half)), cy=float(rng.uniform(hf / 2, 1 - hf / 2)),
        radius=float(rng.choice(BRUSH_RADII)), angle=float(rng.uniform(-15, 15)),
        mode=mode or str(rng.choice(["stroke", "bitmap"])),
        background=str(rng.choice(["white", "transparent"])),
    )
