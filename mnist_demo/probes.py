"""Robustness probes: shift, shrink, thicken, thin or rotate a drawing and see which models keep their answer."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from torch import nn

from .drawing.preprocess import ink_map, preprocess
from .predict import predict_probs


def _place(ink: np.ndarray, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0, angle: float = 0.0) -> np.ndarray:
    img = Image.fromarray((ink * 255).astype(np.uint8))
    if angle:
        img = img.rotate(angle, resample=Image.BILINEAR)
    if scale != 1.0:
        w, h = img.size
        small = img.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BILINEAR)
        canvas = Image.new("L", (w, h), 0)
        canvas.paste(small, ((w - small.size[0]) // 2, (h - small.size[1]) // 2))
        img = canvas
    out = np.asarray(img, np.float32) / 255
    if dx or dy:
        out = ndimage.shift(out, (dy * out.shape[0], dx * out.shape[1]), order=0, cval=0.0)
    return out


def probe_inks(value: Any) -> dict[str, np.ndarray] | None:
    """The drawing's ink map (white on black) under each probe; None for a blank pad."""
    res = ink_map(value)
    if res is None or preprocess(value) is None:
        return None
    ink = res[0]
    r = max(1, round(max(ink.shape) / 40))  # about a brush radius on the 280 px pad
    return {
        "as drawn": ink,
        "shifted to a corner": _place(ink, 0.6, -0.25, -0.25),
        "shrunk to 40 %": _place(ink, 0.4),
        "thicker pen": ndimage.grey_dilation(ink, size=(2 * r + 1, 2 * r + 1)),
        "thinner pen": ndimage.grey_erosion(ink, size=(r + 1, r + 1)),
        "rotated 15°": _place(ink, angle=15),
        "rotated −15°": _place(ink, angle=-15),
    }


def robustness(models: dict[str, nn.Module], value: Any) -> tuple[list[str], list[list[Any]], dict[str, np.ndarray]]:
    """(header, rows, model inputs): each probe's prediction per model, '✓' where it keeps the original answer."""
    inks = probe_inks(value)
    if inks is None:
        return [], [], {}
    names = list(models)
    header = ["probe", *names]
    original: dict[str, int] = {}
    rows: list[list[Any]] = []
    inputs: dict[str, np.ndarray] = {}
    for probe, ink in inks.items():
        pre = preprocess(ink)
        if pre is None:
            rows.append([probe, *["blank"] * len(names)])
            continue
        inputs[probe] = pre.image
        row: list[Any] = [probe]
        for n in names:
            digit = int(predict_probs(models[n], pre.image)[0].argmax())
            original.setdefault(n, digit)
            row.append(f"{digit} ✓" if digit == original[n] else f"{digit} ✗")
        rows.append(row)
    return header, rows, inputs
