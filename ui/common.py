"""Helpers shared by the tab builders: error translation, image scaling, the pad's blank value."""

from __future__ import annotations

import errno
import functools
import math
import threading
import warnings
from collections.abc import Callable
from io import BytesIO
from typing import Any

import gradio as gr
import numpy as np
from gradio import component_meta
from gradio.data_classes import FileData
from PIL import Image

from mnist_demo.checkpoints import CheckpointError
from mnist_demo.data import MnistUnavailableError
from mnist_demo.preprocess import BadImageError

CANVAS = 280  # pad size in px; a 24 px line (brush radius 12) on a ~200 px digit is MNIST's stroke ratio
BRUSH_RADIUS = 12
DRAW_A_DIGIT = "draw a digit"
MAX_PIXELS = 4096 * 4096  # a bigger upload is refused before it is decoded (10k x 10k took 8 s and 400 MB)
NOT_AN_IMAGE = ("That file is not an image this app can read. Draw on the pad, or upload a PNG, JPEG, GIF, WebP, "
                "BMP or TIFF picture of a digit.")
MNIST_HELP = ("MNIST is not available here. Set MNIST_DATA_DIR to a folder holding MNIST/raw "
              "(the four *-ubyte files) or run once with internet access; the Draw tab works without it.")


def blank_pad() -> dict[str, Any]:
    """A solid white background: the brush is active as soon as the page loads."""
    return {"background": np.full((CANVAS, CANVAS, 3), 255, np.uint8), "layers": [], "composite": None}


def upscale(img: np.ndarray, size: int = 168) -> np.ndarray:
    """A 28×28 float or uint8 image blown up with crisp pixels for display (uint8)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = (np.clip(np.nan_to_num(a), 0, 1) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(a).resize((size, size), Image.NEAREST))


def _check_upload(file: Any) -> None:
    """Read only the header of an uploaded image: refuse unreadable files and huge images before decoding."""
    if file is None:
        return
    try:
        with warnings.catch_warnings():  # PIL warns about big images; the size check below answers instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file.path if isinstance(file, FileData) else BytesIO(file)) as im:
                w, h = im.size
    except Exception:  # PIL raises several types for garbage, empty and truncated files
        raise gr.Error(NOT_AN_IMAGE) from None
    if w * h > MAX_PIXELS:
        raise gr.Error(f"That image is {w:,}×{h:,} pixels; the pad takes pictures up to {MAX_PIXELS / 1e6:.0f} "
                       "megapixels (e.g. 4096×4096). Shrink it first.") from None


# gradio writes a `.pyi` stub next to the module of every component subclass it sees defined (here: into the
# repository, at import time). The three subclasses below need no stubs, so that hook is off while they are defined.
_write_pyi_stub = component_meta.create_or_modify_pyi
component_meta.create_or_modify_pyi = lambda *args, **kwargs: None


class Sketchpad(gr.Sketchpad):
    """gr.Sketchpad whose uploads are vetted: non-images and huge images get a plain message, not a crash."""

    def get_block_name(self) -> str:
        """Rendered by gradio's ImageEditor front end, like gr.Sketchpad."""
        return "imageeditor"

    def get_block_class(self) -> str:
        """Same as get_block_name (used when an app is loaded with gr.load)."""
        return "imageeditor"

    def preprocess(self, payload: Any) -> Any:
        """gr.Sketchpad.preprocess after a header check of every uploaded image."""
        if payload is not None and getattr(payload, "id", None) is None:
            for f in (payload.background, payload.composite, *(payload.layers or [])):
                _check_upload(f)
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise
        except Exception:  # whatever PIL or numpy raise on a broken upload: the visitor's file, not our bug
            raise gr.Error(NOT_AN_IMAGE) from None


def _number(payload: Any, label: str | None) -> float | None:
    """A finite float from what an API caller sent for a numeric field, or gr.Error saying what is wrong."""
    what = label or "this value"
    if payload is None:
        return None
    if isinstance(payload, bool):
        raise gr.Error(f"{what} must be a number, got {payload!r}")
    try:
        v = float(payload)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number, got {str(payload)[:40]!r}") from None
    if not math.isfinite(v):
        raise gr.Error(f"{what} must be a finite number, got {payload!r}")
    return v


class Number(gr.Number):
    """gr.Number that answers text, NaN and infinity with a plain message (gradio's own check crashes on them)."""

    def preprocess(self, payload: Any) -> float | int | None:
        """The value as gr.Number passes it, after the check."""
        return super().preprocess(_number(payload, self.label))


class Slider(gr.Slider):
    """gr.Slider that answers missing, text, NaN and infinite values with a plain message."""

    def preprocess(self, payload: Any) -> float:
        """The value as gr.Slider passes it, after the check."""
        v = _number(payload, self.label)
        if v is None:
            raise gr.Error(f"{self.label or 'this value'} must be a number, got None")
        return super().preprocess(v)


component_meta.create_or_modify_pyi = _write_pyi_stub


def _serialise_matplotlib() -> None:
    """One process-wide lock around matplotlib's mathtext parser and Agg rendering.

    gradio runs handlers and renders gr.Plot figures in many threads at once. matplotlib's mathtext (the
    t-SNE map's digit markers, $…$ labels) shares one parser and its fonts between threads, and all fonts
    share one FreeType library: under the soak benchmark renders failed with FreeType errors ("raster
    overflow", "invalid outline"), and a 12-thread stress run died of heap corruption. matplotlib's own
    lock covers only Figure.draw; marker paths are made when a scatter is created, and blitting draws
    text outside Figure.draw. Every path that loads or renders glyphs now takes that one lock.
    """
    from matplotlib import mathtext, textpath
    from matplotlib.backends import backend_agg
    from matplotlib.figure import Figure

    if getattr(mathtext.MathTextParser.parse, "_serialised", False):
        return
    # matplotlib (3.11 here) already holds a class-wide re-entrant lock in Figure.draw. Ours must be that same
    # lock: a second lock deadlocked against it (savefig's layout pass takes Figure's lock, then needs text
    # metrics, while another thread held ours and waited for Figure's).
    lock = getattr(Figure, "_render_lock", None) or threading.RLock()

    def locked(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return fn(*args, **kwargs)

        wrapper._serialised = True  # type: ignore[attr-defined]
        return wrapper

    mathtext.MathTextParser.parse = locked(mathtext.MathTextParser.parse)
    textpath.TextToPath.get_text_path = locked(textpath.TextToPath.get_text_path)  # markers like "$7$"
    backend_agg.FigureCanvasAgg.draw = locked(backend_agg.FigureCanvasAgg.draw)  # a whole render at once
    for name in ("draw_text", "draw_mathtext", "get_text_width_height_descent"):  # text drawn outside a full
        setattr(backend_agg.RendererAgg, name, locked(getattr(backend_agg.RendererAgg, name)))  # render (blitting)


_serialise_matplotlib()


def _os_message(exc: OSError) -> str:
    """A sentence for a failed read or write, without server paths."""
    if exc.errno == errno.ENOSPC:
        why = "the server's disk is full"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "the server may not write there (read-only or no permission)"
    else:
        why = exc.strerror or type(exc).__name__
    return f"The server could not read or write a file: {why}. Please try again later."


# The core's expected failures; anything else is a bug and keeps gradio's generic error (and the log).
_EXPECTED = (MnistUnavailableError, CheckpointError, ValueError, KeyError, BadImageError, RuntimeError, OSError)


def _visitor_error(exc: BaseException) -> gr.Error:
    """The gr.Error a visitor sees for one of the core's expected failures."""
    if isinstance(exc, MnistUnavailableError):
        return gr.Error(MNIST_HELP)
    if isinstance(exc, CheckpointError):
        return gr.Error(f"That model is unavailable: {exc}")
    if isinstance(exc, OSError):
        return gr.Error(_os_message(exc))
    return gr.Error(str(exc).strip("'\""))


def friendly_errors(fn: Callable) -> Callable:
    """Turn the core's expected failures into gr.Error messages the visitor can act on."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except _EXPECTED as exc:
            raise _visitor_error(exc) from None

    return wrapper


def friendly_stream(fn: Callable) -> Callable:
    """friendly_errors for generator handlers."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            yield from fn(*args, **kwargs)
        except gr.Error:
            raise
        except _EXPECTED as exc:
            raise _visitor_error(exc) from None

    return wrapper
