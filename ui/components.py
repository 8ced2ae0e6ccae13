"""The app's input components: gradio's Sketchpad, Number and Slider with the checks a public server needs
(upload and blob size, pixel and layer limits, numbers that are numbers)."""

from __future__ import annotations

import threading
import time
import warnings
from io import BytesIO
from typing import Any

import gradio as gr
from fastapi import HTTPException
from gradio.components.base import server
from gradio.context import LocalContext
from gradio.data_classes import FileData
from PIL import Image

from mnist_demo.numbers import as_number

from .patches import client_key, skip_component_stubs

MAX_PIXELS = 4096 * 4096  # a bigger upload is refused before it is decoded (10k x 10k took 8 s and 400 MB)
MAX_LAYERS = 1  # the pad has one drawing layer (layers=False); each extra one was decoded at full size
MAX_BLOB_BYTES = 2_000_000  # one part of a drawing sent by the page (a 280 px PNG is a few kB)
NOT_AN_IMAGE = ("That file is not an image this app can read. Draw on the pad, or upload a PNG, JPEG, GIF, WebP, "
                "BMP or TIFF picture of a digit.")


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


skip_component_stubs()  # before the component classes below: gradio would write .pyi files into the repo


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
