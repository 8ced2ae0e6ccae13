"""Real pen handwriting (UCI pendigits, 30 writers): parse, split by writer, render as the app's pad delivers it.

The file is UNIPEN text: per digit a `.SEGMENT ... "d"` line, `.COMMENT label writer sample`, then strokes of
`x y` tablet points between `.PEN_DOWN` / `.PEN_UP` (y grows up, each writer inside a 500 x 500 box).
Read from PEN_DATA_DIR (a folder holding `pendigits-train`, or the file itself); nothing of it is committed.
Get the same file from the UCI Machine Learning Repository, "Pen-Based Recognition of Handwritten Digits"
(`pendigits-orig.tra`, renamed `pendigits-train`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..config import REPO_ROOT

FILE_NAME = "pendigits-train"
# The one writer-disjoint split (issue 16): models train on writers 1-24; 25-30 are people they never met.
TRAIN_WRITERS: tuple[int, ...] = tuple(range(1, 25))
HELD_OUT_WRITERS: tuple[int, ...] = tuple(range(25, 31))
PAD_CANVAS = 280  # the app's pad (ui.common.CANVAS); 800 px stands for a bigger canvas or an upload
BRUSH_RADII = (3, 6, 9, 12, 16, 20)  # the pad's brush sizes (radius, canvas px); the app's default is 12


class PenDataUnavailableError(RuntimeError):
    """The pen data file is missing or unreadable; the message says how to get it."""


@dataclass(frozen=True)
class PenDigit:
    """One digit as written: its label, writer (1..30), and strokes as (n, 2) float arrays, y growing down."""

    label: int
    writer: int
    sample: int
    strokes: tuple[np.ndarray, ...]


def pen_data_path() -> Path:
    """The pen data file (env PEN_DATA_DIR: the folder holding it or the file; default data/pendigits)."""
    p = Path(os.environ.get("PEN_DATA_DIR", REPO_ROOT / "data" / "pendigits")).expanduser()
    return p / FILE_NAME if p.is_dir() else p


def parse_unipen(text: str) -> list[PenDigit]:
    """Every digit of a UNIPEN text (header lines skipped); ValueError naming the line when it is malformed."""
    digits: list[PenDigit] = []
    label = writer = sample = None
    strokes: list[np.ndarray] = []
    points: list[tuple[float, float]] | None = None

    def close() -> None:
        if label is not None:
            if not strokes:
                raise ValueError(f"digit {sample} of writer {writer} has no strokes")
            digits.append(PenDigit(label, writer, sample, tuple(strokes)))

    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            if line.startswith(".SEGMENT"):
                close()
                label, writer, sample, strokes = None, None, None, []
            elif line.startswith(".COMMENT"):
                lab, wri, sam = (int(v) for v in line.split()[1:4])
                if not 0 <= lab <= 9:
                    raise ValueError(f"label {lab} is not a digit")
                label, writer, sample = lab, wri, sam
            elif line.startswith(".PEN_DOWN"):
                points = []
            elif line.startswith(".PEN_UP"):
                if points:  # y grows up on the tablet, down on a canvas
                    strokes.append(np.array([(x, -y) for x, y in points], np.float32))
                points = None
            elif line.startswith("."):
                continue  # .INCLUDE, .LEXICON, .HIERARCHY, ...
            elif points is not None:
                x, y = line.split()
                points.append((float(x), float(y)))
            else:
                raise ValueError("a point outside .PEN_DOWN/.PEN_UP")
        except ValueError as exc:
            raise ValueError(f"pen data line {no}: {exc} ({raw.strip()[:40]!r})") from None
    close()
    return digits


@lru_cache(maxsize=2)
def _load(path: str) -> tuple[PenDigit, ...]:
    try:
        text = Path(path).read_text(encoding="ascii", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise PenDataUnavailableError(
            f"real pen data not readable at {path} ({type(exc).__name__}). Set PEN_DATA_DIR to the folder holding "
            f"'{FILE_NAME}' (UCI 'Pen-Based Recognition of Handwritten Digits', pendigits-orig.tra).") from None
    try:
        digits = parse_unipen(text)
    except ValueError as exc:
        raise PenDataUnavailableError(f"{path} is not UNIPEN pen data: {exc}") from None
    if not digits:
        raise PenDataUnavailableError(f"{path} holds no digits")
    return tuple(digits)


def load_pen_digits(writers: tuple[int, ...] | None = None) -> list[PenDigit]:
    """All digits of the pen data file (parsed once per process), optionally only those of `writers`."""
    digits = _load(str(pen_data_path()))
    return list(digits) if writers is None else [d for d in digits if d.writer in writers]


def pen_data_available() -> bool:
    """True when the pen data file parses."""
    try:
        load_pen_digits()
    except PenDataUnavailableError:
        return False
    return True


# ---------- rendering as the pad delivers a drawing ----------
@dataclass(frozen=True)
class PenSpec:
    """Where and how one pen digit lands on a canvas."""

    canvas: int = PAD_CANVAS
    height_frac: float = 0.7  # digit height / canvas side
    cx: float = 0.5  # centre as fractions of the canvas
    cy: float = 0.5
    radius: float = 12.0  # brush radius, canvas px
    slant: float = 0.0  # horizontal shear (x += slant * (y - centre)); positive leans right
    background: str = "white"  # white (opaque) | transparent (RGB 0, as the pad sends it)


def random_pen_spec(rng: np.random.Generator) -> PenSpec:
    """A random canvas (the pad's 280 px or 800 px), size 25-90 %, place, slant, any legible brush, background."""
    canvas = int(rng.choice([PAD_CANVAS, 800], p=[0.75, 0.25]))
    hf = float(rng.uniform(0.25, 0.9))
    # A brush whose line is wider than ~22 % of the digit's height makes a blob nobody can read.
    legible = [r for r in BRUSH_RADII if 2 * r <= 0.22 * hf * canvas] or [BRUSH_RADII[0]]
    half = hf / 2 * 0.85
    return PenSpec(canvas=canvas, height_frac=hf, cx=float(rng.uniform(half, 1 - half)),
                   cy=float(rng.uniform(hf / 2, 1 - hf / 2)), radius=float(rng.choice(legible)),
                   slant=float(rng.uniform(-0.25, 0.25)), background=str(rng.choice(["white", "transparent"])))


def place_strokes(strokes: tuple[np.ndarray, ...] | list[np.ndarray], spec: PenSpec) -> list[np.ndarray]:
    """Strokes sheared by the slant and scaled/moved onto the canvas per `spec` (canvas px, y down)."""
    allpts = np.concatenate(strokes)
    mid = (allpts.min(0) + allpts.max(0)) / 2
    sheared = [s - mid for s in strokes]
    sheared = [np.stack([s[:, 0] + spec.slant * s[:, 1], s[:, 1]], 1) for s in sheared]
    pts = np.concatenate(sheared)
    lo, hi = pts.min(0), pts.max(0)
    w, h = max(hi[0] - lo[0], 1e-3), max(hi[1] - lo[1], 1e-3)
    margin = spec.canvas - 2 * spec.radius - 2
    scale = min(spec.height_frac * spec.canvas / h, margin / w, margin / h)
    centre = np.array([spec.cx, spec.cy], np.float32) * spec.canvas
    box_mid = (lo + hi) / 2
    # Keep the ink on the canvas: shift the centre so the scaled box (plus the pen) fits.
    half = np.array([w, h]) * scale / 2 + spec.radius + 1
    centre = np.clip(centre, half, spec.canvas - half)
    return [((s - box_mid) * scale + centre).astype(np.float32) for s in sheared]


def draw_strokes(strokes: list[np.ndarray], canvas: int, radius: float) -> np.ndarray:
    """Boolean ink mask (canvas, canvas): each stroke a round-pen polyline, as the pad's brush paints it."""
    img = Image.new("L", (canvas, canvas), 0)
    d = ImageDraw.Draw(img)
    r = float(radius)
    for s in strokes:
        pts = [(float(x), float(y)) for x, y in s]
        if len(pts) > 1:
            d.line(pts, fill=255, width=max(1, round(2 * r)), joint="curve")
        for x, y in (pts[0], pts[-1]) if len(pts) > 1 else pts:  # round caps (and a dot for a tap)
            d.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img) > 127


def render_pen(digit: PenDigit | list[np.ndarray], spec: PenSpec) -> np.ndarray:
    """One pad image (canvas, canvas, 4) RGBA: black ink on opaque white or on a transparent background."""
    from .sketches import to_pad_image

    strokes = digit.strokes if isinstance(digit, PenDigit) else digit
    return to_pad_image(draw_strokes(place_strokes(strokes, spec), spec.canvas, spec.radius), spec.background)


def held_out_suite(seed: int = 2025, writers: tuple[int, ...] = HELD_OUT_WRITERS) -> list[dict]:
    """Every digit of `writers` drawn once as the pad delivers it (a seeded PenSpec each): dicts with
    image (RGBA), label, writer and spec. The trajectories are used as written: no augmentation."""
    rng = np.random.default_rng(seed)
    suite = []
    for d in load_pen_digits(writers):
        spec = random_pen_spec(rng)
        suite.append({"image": render_pen(d, spec), "label": d.label, "writer": d.writer, "spec": spec})
    return suite
