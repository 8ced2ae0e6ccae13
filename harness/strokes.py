"""Digits as mouse strokes for the browser: drawn shapes, and real pen digits replayed as a mouse would."""

from __future__ import annotations

import math

CANVAS_PX = 280  # ui.common.CANVAS: the pad's drawing area in canvas pixels (shown at the toolbar's zoom)


# ---------- digits as mouse strokes ----------
# Each digit is one stroke (so the pad sends one value per digit): (x, y) in the drawing area, 0..1, y down.
# Drawn big and centred with the pad's 24 px brush, the way a visitor writes with a mouse or a finger.

def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 8) -> list[tuple[float, float]]:
    """Points on an ellipse from angle a0 to a1 (degrees, 0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


DIGIT_STROKES: dict[str, list[tuple[float, float]]] = {
    "7": [(0.24, 0.2), (0.76, 0.2), (0.42, 0.84)],
    "3": _arc(0.5, 0.32, 0.19, 0.16, -160, 90) + _arc(0.5, 0.66, 0.21, 0.18, -90, 150)[1:],
}

def pen_mouse_strokes(strokes: tuple, step_frac: float = 0.04) -> list[list[tuple[float, float]]]:
    """A real pen digit's strokes as mouse strokes in 0..1 of the drawing area: 70 % of its height, centred,
    resampled every `step_frac` of its size (a mouse reports every few pixels)."""
    from mnist_demo.drawing.pen_data import PenSpec, place_strokes
    from mnist_demo.drawing.pen_renders import resample

    placed = place_strokes(strokes, PenSpec(canvas=CANVAS_PX, height_frac=0.7))
    return [[(float(x) / CANVAS_PX, float(y) / CANVAS_PX) for x, y in resample(s, step_frac * 0.7 * CANVAS_PX)]
            for s in placed]
