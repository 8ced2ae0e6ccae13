"""PIL's pixel limit, matplotlib's render lock and gradio's stub files (see ui/patches/__init__)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from .version import log


def limit_pil_pixels(max_pixels: int) -> None:
    """PIL raises DecompressionBombError above 2 x MAX_IMAGE_PIXELS: set that to `max_pixels` (gradio hides the
    warning PIL gives below it, so the error is the only guard while gradio decodes an upload)."""
    from PIL import Image

    limit = max(1, max_pixels // 2)
    if limit != Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit
        log.info("PIL: images over %s pixels are refused while decoding", f"{max_pixels:,}")


def serialise_matplotlib() -> None:
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

    log.info("matplotlib patched: text and Agg rendering share Figure's render lock (ui/patches)")
    mathtext.MathTextParser.parse = locked(mathtext.MathTextParser.parse)
    textpath.TextToPath.get_text_path = locked(textpath.TextToPath.get_text_path)  # markers like "$7$"
    backend_agg.FigureCanvasAgg.draw = locked(backend_agg.FigureCanvasAgg.draw)  # a whole render at once
    for name in ("draw_text", "draw_mathtext", "get_text_width_height_descent"):  # text drawn outside a full
        setattr(backend_agg.RendererAgg, name, locked(getattr(backend_agg.RendererAgg, name)))  # render (blitting)


def skip_component_stubs() -> None:
    """gradio's component metaclass writes no `.pyi` stubs from now on (in this process)."""
    from gradio import component_meta

    if getattr(component_meta.create_or_modify_pyi, "_skipped", False):
        return

    def skipped(*args: Any, **kwargs: Any) -> None:
        return None

    skipped._skipped = True  # type: ignore[attr-defined]
    component_meta.create_or_modify_pyi = skipped
    log.info("gradio patched: component subclasses write no .pyi stubs into the repository (ui/patches)")
