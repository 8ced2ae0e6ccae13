"""Drawings that are not digits, made by code and rendered like the pad: the "that's not a digit" suite (issue 21).

Six kinds, equally many of each: letters and symbols written with a stroke font (Hershey fonts, PyPI
`hershey-fonts`), jittered like handwriting (resampled, a smooth wobble, rotation, stretch; then the pen
spec's slant, size, place and brush, as for real pen digits); shapes (stars, crosses, arrows, smileys,
houses, hearts, triangles, lightning, checkmarks, waves); scribbles (tangles, hatching, loops); two digits
side by side; and a digit crossed out. Letters people also write as digits (O o l I S Z B g q, and the
look-alikes i s z b) and symbols that read as a 1 or a blank (| / \\ ( ) [ ] ! - . ,) are left out.

Every drawing is a function of (seed, index): the evaluation suite (EVAL_SEED, 1,200 drawings) is fixed;
a separate fitting set (FIT_SEED) is what any reject rule may be tuned on.
"""

from __future__ import annotations

import string
from functools import lru_cache

import numpy as np

from .pen_data import random_pen_spec, render_pen

KINDS: tuple[str, ...] = ("letter", "symbol", "shape", "scribble", "two_digits", "crossed_out")
EXCLUDED_LETTERS = "OolIiSsZzBbgq"  # written like 0 0 1 1 1 5 5 2 2 8 6 9 9 by many people
LETTERS = "".join(c for c in string.ascii_letters if c not in EXCLUDED_LETTERS)
SYMBOLS = "+*#@&%?=<>~{}^"
FONTS: tuple[str, ...] = ("futural", "scripts", "cursive", "rowmans")  # simplex sans, script, cursive, roman
SHAPES: tuple[str, ...] = ("star", "pentagram", "cross", "arrow", "smiley", "house", "heart", "triangle",
                           "lightning", "check", "wave")
EVAL_SEED, EVAL_SIZE = 21, 1200  # the fixed evaluation suite
FIT_SEED, FIT_SIZE = 2121, 600  # a separate set for fitting a reject rule (never the evaluation suite)


@lru_cache(maxsize=8)
def _font(name: str):
    from HersheyFonts import HersheyFonts

    font = HersheyFonts()
    font.load_default_font(name)
    return font


def glyph_strokes(text: str, font: str = "futural") -> list[np.ndarray]:
    """The strokes of `text` in a Hershey font as (n, 2) float arrays, y growing down."""
    return [np.asarray(s, np.float32) for s in _font(font).strokes_for_text(text) if len(s)]


def _resample(stroke: np.ndarray, step: float) -> np.ndarray:
    if len(stroke) < 2:
        return stroke
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))])
    if arc[-1] <= step:
        return stroke
    at = np.append(np.arange(0.0, arc[-1], step), arc[-1])
    return np.stack([np.interp(at, arc, stroke[:, 0]), np.interp(at, arc, stroke[:, 1])], 1).astype(np.float32)


def handwritten(strokes: list[np.ndarray], rng: np.random.Generator, wobble: float = 0.025) -> list[np.ndarray]:
    """Strokes as a hand draws them: resampled densely, a smooth wobble (a share of the size), rotated a little
    and stretched."""
    pts = np.concatenate(strokes)
    size = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1e-3))
    out = []
    for s in strokes:
        s = _resample(s, size / 40)
        t = np.linspace(0, 1, len(s))[:, None]
        phase, freq = rng.uniform(0, 2 * np.pi, (1, 2)), rng.uniform(1, 3, (1, 2))
        out.append(s + wobble * size * np.sin(2 * np.pi * freq * t + phase).astype(np.float32))
    a = np.radians(rng.uniform(-12, 12))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    stretch = np.array([rng.uniform(0.8, 1.2), 1.0], np.float32)
    return [((s @ rot.T) * stretch).astype(np.float32) for s in out]


def _poly(pts: list[tuple[float, float]] | np.ndarray) -> np.ndarray:
    return np.asarray(pts, np.float32)


def _ellipse(cx: float, cy: float, rx: float, ry: float, a0: float = 0.0, a1: float = 2 * np.pi,
             n: int = 40) -> np.ndarray:
    a = np.linspace(a0, a1, n)
    return _poly(np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1))


def shape_strokes(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    """One shape (SHAPES) as strokes in a unit-ish box, y down."""
    if kind in ("star", "pentagram"):
        k = int(rng.choice([5, 5, 6])) if kind == "star" else 5
        a = -np.pi / 2 + np.arange(2 * k + 1) * np.pi / k
        r = np.where(np.arange(2 * k + 1) % 2 == 0, 1.0, rng.uniform(0.35, 0.5))
        if kind == "pentagram":  # one line through every second vertex
            a, r = -np.pi / 2 + np.arange(6) * 4 * np.pi / 5, np.ones(6)
        return [_poly(np.stack([r * np.cos(a), r * np.sin(a)], 1))]
    if kind == "cross":
        return [_poly([(-1, -1), (1, 1)]), _poly([(1, -1), (-1, 1)])]
    if kind == "arrow":
        d = rng.choice(["right", "left", "up", "down"])
        body, head = [(-1, 0), (1, 0)], [(0.45, -0.5), (1, 0), (0.45, 0.5)]
        flip = {"right": (1, 1, False), "left": (-1, 1, False), "up": (1, -1, True), "down": (1, 1, True)}[d]
        out = []
        for pts in (body, head):
            p = _poly(pts) * np.array(flip[:2], np.float32)
            out.append(p[:, ::-1].copy() if flip[2] else p)
        return out
    if kind == "smiley":
        eye = rng.uniform(0.06, 0.12)
        return [_ellipse(0, 0, 1, 1), _ellipse(-0.35, -0.3, eye, eye, n=10), _ellipse(0.35, -0.3, eye, eye, n=10),
                _ellipse(0, 0.1, 0.55, 0.45, 0.15 * np.pi, 0.85 * np.pi, 16)]
    if kind == "house":
        out = [_poly([(-1, 0), (-1, 1.2), (1, 1.2), (1, 0), (-1, 0)]), _poly([(-1.15, 0.05), (0, -1), (1.15, 0.05)])]
        if rng.random() < 0.6:
            out.append(_poly([(-0.25, 1.2), (-0.25, 0.55), (0.25, 0.55), (0.25, 1.2)]))
        return out
    if kind == "heart":
        t = np.linspace(0, 2 * np.pi, 60)
        return [_poly(np.stack([16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t)
                                                       - np.cos(4 * t))], 1) / 16)]
    if kind == "triangle":
        return [_poly([(0, -1), (1, 0.8), (-1, 0.8), (0, -1)])]
    if kind == "lightning":
        return [_poly([(0.3, -1), (-0.4, 0.1), (0.3, 0.0), (-0.3, 1)])]
    if kind == "check":
        return [_poly([(-1, 0), (-0.35, 0.7), (1, -1)])]
    if kind == "wave":
        x = np.linspace(-1, 1, 40)
        return [_poly(np.stack([x, 0.35 * np.sin(x * np.pi * rng.uniform(1.5, 3))], 1))]
    raise ValueError(f"unknown shape {kind!r}; one of {', '.join(SHAPES)}")


def scribble_strokes(rng: np.random.Generator) -> tuple[str, list[np.ndarray]]:
    """A tangle (a random smooth walk), hatching (parallel lines) or a row of loops."""
    style = str(rng.choice(["tangle", "hatch", "loops"]))
    if style == "tangle":
        ctrl = rng.uniform(-1, 1, (int(rng.integers(5, 10)), 2))
        t = np.linspace(0, len(ctrl) - 1, 30 * len(ctrl))
        x = np.interp(t, np.arange(len(ctrl)), ctrl[:, 0])
        y = np.interp(t, np.arange(len(ctrl)), ctrl[:, 1])
        k = np.ones(9) / 9  # smooth the corners
        return style, [_poly(np.stack([np.convolve(x, k, "valid"), np.convolve(y, k, "valid")], 1))]
    if style == "hatch":
        n, tilt = int(rng.integers(3, 7)), rng.uniform(-0.6, 0.6)
        return style, [_poly([(-1, y - tilt), (1, y + tilt)]) for y in np.linspace(-1, 1, n)]
    n = int(rng.integers(3, 6))
    t = np.linspace(0, n * 2 * np.pi, 40 * n)
    return style, [_poly(np.stack([t / (n * np.pi) - 1 + 0.25 * np.sin(t), -0.5 * np.cos(t)], 1))]


def _digit(rng: np.random.Generator) -> tuple[str, list[np.ndarray]]:
    d = str(rng.integers(0, 10))
    return d, handwritten(glyph_strokes(d, str(rng.choice(FONTS))), rng)


def _box(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pts = np.concatenate(strokes)
    return pts.min(0), pts.max(0)


def two_digits(rng: np.random.Generator) -> tuple[str, list[np.ndarray]]:
    """Two digits side by side (a number, not a digit)."""
    (a, sa), (b, sb) = _digit(rng), _digit(rng)
    (a0, a1), (b0, b1) = _box(sa), _box(sb)
    h = float(max(a1[1] - a0[1], 1e-3))
    dx = a1[0] - b0[0] + h * rng.uniform(0.1, 0.35)
    dy = (a0[1] + a1[1]) / 2 - (b0[1] + b1[1]) / 2 + h * rng.uniform(-0.08, 0.08)
    return a + b, sa + [s + np.array([dx, dy], np.float32) for s in sb]


def crossed_out(rng: np.random.Generator) -> tuple[str, list[np.ndarray]]:
    """A digit struck through: an X over it, lines across it or a scribble on top."""
    d, s = _digit(rng)
    (x0, y0), (x1, y1) = _box(s)
    w, h = x1 - x0, y1 - y0
    style = str(rng.choice(["x", "lines", "zigzag"]))
    m = 0.1 * max(w, h)
    if style == "x":
        over = [_poly([(x0 - m, y0), (x1 + m, y1)]), _poly([(x1 + m, y0), (x0 - m, y1)])]
    elif style == "lines":
        over = [_poly([(x0 - m, y), (x1 + m, y + rng.uniform(-0.1, 0.1) * h)])
                for y in np.linspace(y0 + 0.3 * h, y1 - 0.3 * h, int(rng.integers(2, 4)))]
    else:
        ys = np.linspace(y0, y1, int(rng.integers(5, 9)))
        over = [_poly([(x0 - m if i % 2 else x1 + m, y) for i, y in enumerate(ys)])]
    return f"{d} crossed ({style})", s + handwritten(over, rng, wobble=0.01)


def nondigit_strokes(index: int, rng: np.random.Generator) -> tuple[str, str, list[np.ndarray]]:
    """(kind, name, strokes) of the index-th drawing: the kinds take turns."""
    kind = KINDS[index % len(KINDS)]
    if kind == "letter":
        ch, font = str(rng.choice(list(LETTERS))), str(rng.choice(FONTS))
        return kind, f"{ch} ({font})", handwritten(glyph_strokes(ch, font), rng)
    if kind == "symbol":
        ch = str(rng.choice(list(SYMBOLS)))
        return kind, ch, handwritten(glyph_strokes(ch, "futural"), rng)
    if kind == "shape":
        shape = str(rng.choice(SHAPES))
        return kind, shape, handwritten(shape_strokes(shape, rng), rng)
    if kind == "scribble":
        style, s = scribble_strokes(rng)
        return kind, style, handwritten(s, rng, wobble=0.01)
    if kind == "two_digits":
        return (kind, *two_digits(rng))
    return (kind, *crossed_out(rng))


def nondigit_suite(seed: int = EVAL_SEED, n: int = EVAL_SIZE) -> list[dict]:
    """n non-digit drawings as the pad delivers them: dicts with image (RGBA), kind, name and spec.
    Fixed by (seed, n): the same call gives the same pixels."""
    suite = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        kind, name, strokes = nondigit_strokes(i, rng)
        spec = random_pen_spec(rng)
        suite.append({"image": render_pen(strokes, spec), "kind": kind, "name": name, "spec": spec})
    return suite
