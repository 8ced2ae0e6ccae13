"""Helpers shared by the tab builders: error translation, image scaling, the pad's blank value."""

from __future__ import annotations

import errno
import functools
import threading
import time
import warnings
from collections.abc import Callable
from io import BytesIO
from typing import Any

import gradio as gr
import numpy as np
from fastapi import HTTPException
from gradio import component_meta
from gradio.components.base import server
from gradio.context import LocalContext
from gradio.data_classes import FileData
from PIL import Image

from mnist_demo.background import BusyError
from mnist_demo.checkpoints import CheckpointError
from mnist_demo.data import MnistUnavailableError
from mnist_demo.drawing.pen_data import PenDataUnavailableError
from mnist_demo.drawing.preprocess import BadImageError
from mnist_demo.numbers import as_number

from .gradio_tweaks import client_key, limit_pil_pixels

CANVAS = 280  # pad size in px; a 24 px line (brush radius 12) on a ~200 px digit is MNIST's stroke ratio
BRUSH_RADIUS = 12
DRAW_A_DIGIT = "draw a digit"
DRAW_FIRST = "✏️ **Draw a digit** on the Draw tab first."  # what a tab that reads the pad says while it is blank
MAX_PIXELS = 4096 * 4096  # a bigger upload is refused before it is decoded (10k x 10k took 8 s and 400 MB)
limit_pil_pixels(MAX_PIXELS)  # and PIL itself refuses to decode one, whatever path it came by
MAX_LAYERS = 1  # the pad has one drawing layer (layers=False); each extra one was decoded at full size
MAX_BLOB_BYTES = 2_000_000  # one part of a drawing sent by the page (a 280 px PNG is a few kB)
NOT_AN_IMAGE = ("That file is not an image this app can read. Draw on the pad, or upload a PNG, JPEG, GIF, WebP, "
                "BMP or TIFF picture of a digit.")
MNIST_HELP = ("MNIST is not available here. Set MNIST_DATA_DIR to a folder holding MNIST/raw "
              "(the four *-ubyte files) or run once with internet access; the Draw tab works without it.")


def blank_pad() -> dict[str, Any]:
    """A solid white background: the brush is active as soon as the page loads."""
    return {"background": np.full((CANVAS, CANVAS, 3), 255, np.uint8), "layers": [], "composite": None}


EXAMPLE_DIGIT = 7
EXAMPLE_NOTE = ("Showing an **example: a drawn 7**. Draw your own digit on the **Draw** tab and this tab shows "
                "yours.")


def example_pad() -> dict[str, Any]:
    """A pad value holding a hand-drawn-looking 7 (black 24 px pen on white): what tabs show before a drawing."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (CANVAS, CANVAS), "white")
    d = ImageDraw.Draw(im)
    d.line([(78, 62), (200, 58)], fill="black", width=2 * BRUSH_RADIUS, joint="curve")
    d.line([(200, 58), (172, 130), (130, 228)], fill="black", width=2 * BRUSH_RADIUS, joint="curve")
    for x, y in ((78, 62), (200, 58), (130, 228)):  # round pen ends, as the pad draws them
        d.ellipse([x - BRUSH_RADIUS, y - BRUSH_RADIUS, x + BRUSH_RADIUS, y + BRUSH_RADIUS], fill="black")
    rgb = np.asarray(im, np.uint8)
    return {"background": rgb, "layers": [], "composite": rgb}


def pad_or_example(service: Any, value: Any) -> tuple[Any, bool]:
    """(value, False) when the pad holds a drawing, else (the example 7, True)."""
    try:
        drawn = service.preprocess(value) is not None
    except Exception:  # a bad value is the handler's to report; the example meanwhile
        drawn = False
    return (value, False) if drawn else (example_pad(), True)


def rendered(fig: Any) -> Any:
    """A matplotlib figure encoded once for gr.Plot (webp, as gr.Plot would): cache it, return it many times."""
    from gradio import processing_utils
    from gradio.components.plot import PlotData

    return PlotData(type="matplotlib", plot=processing_utils.encode_plot_to_base64(fig, "webp"))


def on_open(tab: Any, fn: Callable, inputs: Any, outputs: Any, **kw: Any) -> None:
    """Fill `outputs` when the visitor opens `tab` (no button to press); nothing when there is no tab."""
    if tab is None:
        return
    n = len(outputs) if isinstance(outputs, list | tuple) else 1

    @functools.wraps(fn)  # gradio reads fn's own signature through __wrapped__ (inputs, gr.Progress)
    def quietly(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:  # the visitor pressed nothing: no error toast, the tab keeps its hint (e.g. no model)
            return gr.update() if n == 1 else (gr.update(),) * n

    kw.setdefault("show_progress", "hidden")  # a tab that fills itself shows no spinner unless asked
    tab.select(quietly, inputs, outputs, api_name=False, **kw)


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
    except Image.DecompressionBombError:  # PIL's own limit (limit_pil_pixels) is this app's MAX_PIXELS
        raise gr.Error(_too_big(_png_size(file) or f"over {MAX_PIXELS:,}")) from None
    except Exception:  # PIL raises several types for garbage, empty and truncated files
        raise gr.Error(NOT_AN_IMAGE) from None
    if w * h > MAX_PIXELS:
        raise gr.Error(_too_big(f"{w:,}×{h:,}")) from None


def _png_size(file: Any) -> str | None:
    """'W×H' from a PNG header (PIL refuses to open one over its limit, so it cannot tell), else None."""
    try:
        if isinstance(file, FileData):
            with open(file.path, "rb") as fh:
                head = fh.read(24)
        else:
            head = bytes(file[:24])
    except OSError:
        return None
    if len(head) < 24 or not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
        return None
    w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return f"{w:,}×{h:,}"


def _too_big(size: str) -> str:
    return (f"That image is {size} pixels; the pad takes pictures up to {MAX_PIXELS / 1e6:.0f} "
            "megapixels (e.g. 4096×4096). Shrink it first.")


# gradio writes a `.pyi` stub next to the module of every component subclass it sees defined (here: into the
# repository, at import time). The three subclasses below need no stubs, so that hook is off while they are defined.
_write_pyi_stub = component_meta.create_or_modify_pyi
component_meta.create_or_modify_pyi = lambda *args, **kwargs: None


class _HeldBlobs:
    """Bounds on the drawings the page posts to gradio's `accept_blobs` before the event that uses them.

    gradio keeps each one under an id the sender picks until an event uses it: never, for a script. Here an
    entry expires after `ttl` seconds, one client holds at most `per_client` ids and `per_client_bytes`, and
    all clients together `total_bytes`; past a bound the oldest entries go (the client's own first).
    """

    def __init__(self, ttl: float = 60.0, per_client: int = 8, per_client_bytes: int = 8_000_000,
                 total_bytes: int = 64_000_000) -> None:
        self.ttl, self.per_client = ttl, per_client
        self.per_client_bytes, self.total_bytes = per_client_bytes, total_bytes
        self.entries: dict[str, tuple[float, str, int]] = {}  # id -> (first seen, client, bytes), oldest first
        self.lock = threading.Lock()

    def admit(self, store: dict, blob_id: str, who: str, size: int) -> None:
        """Account for `size` more bytes under `blob_id` from `who`, evicting from `store` to stay in bounds."""
        now = time.monotonic()
        for k in [k for k, (t, _, _) in self.entries.items() if now - t > self.ttl or k not in store]:
            if k != blob_id or k not in store:
                self.entries.pop(k, None)
                store.pop(k, None)
        for k in [k for k in store if k not in self.entries and k != blob_id]:  # not admitted here: not kept
            store.pop(k, None)
        t, owner, held = self.entries.pop(blob_id, (now, who, 0))
        self.entries[blob_id] = (t, owner, held + size)

        def evict(ids: list[str]) -> None:
            for k in ids:
                self.entries.pop(k, None)
                store.pop(k, None)

        mine = [k for k, (_, w, _) in self.entries.items() if w == who]
        while len(mine) > self.per_client or (len(mine) > 1 and sum(self.entries[k][2] for k in mine)
                                               > self.per_client_bytes):
            evict([mine.pop(0)])
        while len(self.entries) > 1 and sum(b for _, _, b in self.entries.values()) > self.total_bytes:
            evict([next(iter(self.entries))])

    def held_bytes(self) -> int:
        """Bytes of drawings waiting for their event now."""
        with self.lock:
            return sum(b for _, _, b in self.entries.values())


class Sketchpad(gr.Sketchpad):
    """gr.Sketchpad whose uploads are vetted: non-images and huge images get a plain message, not a crash.

    Both ways a drawing arrives are checked before anything is decoded: files in the event (API clients) and
    the page's blobs (`accept_blobs`, then an event naming the blob id); a drawing has at most one layer, and
    blobs nobody uses expire.
    """

    held = _HeldBlobs()  # one for every pad of the app (gradio's blob_storage is per component, not per visitor)

    @server
    def accept_blobs(self, data: Any) -> None:
        """gradio's accept_blobs for one part of a drawing, refused with HTTP 4xx and a message when it is bad."""
        fields = getattr(data, "data", None) or {}
        fields.setdefault("index", None)  # gradio indexes it without a default
        kind, index, blob_id = fields.get("type"), fields.get("index"), fields.get("id")
        files = getattr(data, "files", None) or []
        if kind not in ("background", "layer", "composite") or not isinstance(blob_id, str) or \
                not 0 < len(blob_id) <= 64 or len(files) != 1:
            raise HTTPException(400, "Expected one image part (type background, layer or composite) and an id.")
        if kind == "layer" and str(index) not in ("0", "None", "null", ""):
            raise HTTPException(400, f"A drawing has {MAX_LAYERS} layer; got layer index {str(index)[:20]!r}.")
        blob = files[0][1]
        if len(blob) > MAX_BLOB_BYTES:
            raise HTTPException(413, f"That drawing part is {len(blob):,} bytes; the pad sends at most "
                                     f"{MAX_BLOB_BYTES:,}.")
        try:
            _check_upload(blob)
        except gr.Error as exc:
            raise HTTPException(422, exc.message) from None
        who = client_key(LocalContext.request.get(None))
        with self.held.lock:
            super().accept_blobs(data)
            self.held.admit(self.blob_storage, blob_id, who, len(blob))

    def get_block_name(self) -> str:
        """Rendered by gradio's ImageEditor front end, like gr.Sketchpad."""
        return "imageeditor"

    def get_block_class(self) -> str:
        """Same as get_block_name (used when an app is loaded with gr.load)."""
        return "imageeditor"

    def preprocess(self, payload: Any) -> Any:
        """gr.Sketchpad.preprocess after a header check of every uploaded image or blob, and of the layer count."""
        if payload is not None:
            parts = payload
            if getattr(payload, "id", None) is not None:  # the page's path: the images are held blobs
                with self.held.lock:
                    parts = self.blob_storage.get(payload.id)
            if parts is not None:
                try:
                    layers = [lay for lay in (parts.layers or []) if lay is not None]
                    if len(layers) > MAX_LAYERS:
                        raise gr.Error(f"A drawing has at most {MAX_LAYERS} layer; this one lists {len(layers)}.")
                    for f in (parts.background, parts.composite, *layers):
                        _check_upload(f)
                except gr.Error:
                    if parts is not payload:  # a refused blob is not kept for another try
                        with self.held.lock:
                            self.blob_storage.pop(payload.id, None)
                            self.held.entries.pop(payload.id, None)
                    raise
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise
        except Exception:  # whatever PIL or numpy raise on a broken upload: the visitor's file, not our bug
            raise gr.Error(NOT_AN_IMAGE) from None


def _number(payload: Any, label: str | None) -> float | None:
    """A finite float from what an API caller sent for a numeric field, or gr.Error saying what is wrong."""
    if payload is None:
        return None
    try:
        return as_number(payload, label or "this value")
    except ValueError as exc:
        raise gr.Error(str(exc)) from None


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


# The core's expected failures; anything else is a bug and keeps gradio's generic error (and the log). Not
# RuntimeError as such: torch raises it for its own failures, whose text means nothing to a visitor.
_EXPECTED = (MnistUnavailableError, PenDataUnavailableError, CheckpointError, BusyError, ValueError, KeyError,
             BadImageError, OSError)


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
