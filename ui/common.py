"""Helpers shared by the tab builders: the pad's blank and example values, image scaling, on_open."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

CANVAS = 280  # pad size in px; a 24 px line (brush radius 12) on a ~200 px digit is MNIST's stroke ratio
BRUSH_RADIUS = 12
DRAW_A_DIGIT = "draw a digit"
DRAW_FIRST = "✏️ **Draw a digit** on the Draw tab first."  # what a tab that reads the pad says while it is blank


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
