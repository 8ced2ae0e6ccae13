"""Launching the real app in-process for gradio_client tests, and drawing test digits to PNG files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from harness.server import free_port, local_client


@contextmanager
def running_app(service=None, **build_kw) -> Iterator[str]:
    """Launch the app built from `service` (default: committed checkpoints on CPU); yield its URL."""
    import gradio as gr

    import app
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service

    service = service or Service(ModelRegistry("cpu"))
    demo = app.build_demo(service, **build_kw)
    demo.queue()
    # The app's own look (CSS, theme, translations) as `python app.py` launches it: browser checks see the real page.
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                css=app.CSS, theme=gr.themes.Soft(), i18n=app.I18N)
    try:
        yield demo.local_url
    finally:
        demo.close()


def pad_file(rgba: np.ndarray, path: Path) -> dict:
    """A Sketchpad value for gradio_client: the image as composite (and background), via handle_file."""
    from gradio_client import handle_file

    Image.fromarray(rgba).save(path)
    f = handle_file(str(path))
    return {"background": f, "layers": [], "composite": f}


@contextmanager
def tab_client(build: Callable[[Any, Any], Any], state: Any = None) -> Iterator[Any]:
    """A gradio_client Client for one tab alone: `build(state, pad)` inside bare Blocks, served on localhost.

    `state` is the gr.State value (None: handlers see no visitor, as an API client without a page load
    does; a callable such as VisitorSession: one per client). The pad is configured like the app's.
    """
    import gradio as gr

    from ui.common import CANVAS, blank_pad
    from ui.components import MAX_PIXELS
    from ui.patches import apply_all

    apply_all(MAX_PIXELS)  # as build_demo does
    with gr.Blocks() as demo:
        st = gr.State(state)
        pad = gr.Sketchpad(value=blank_pad(), image_mode="RGBA", type="numpy", canvas_size=(CANVAS, CANVAS),
                           layers=False, transforms=(), interactive=True)
        build(st, pad)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        yield local_client(demo.local_url)
    finally:
        demo.close()


def lines_image(lines: list[tuple[int, int, int, int]], width: int = 24) -> np.ndarray:
    """A pad drawing (280×280 greyscale): black lines (x0, y0, x1, y1) on white."""
    im = Image.new("L", (280, 280), 255)
    d = ImageDraw.Draw(im)
    for x0, y0, x1, y1 in lines:
        d.line([(x0, y0), (x1, y1)], fill=0, width=width)
    return np.asarray(im)


def lines_pad(tmp_path: Path, lines: list[tuple[int, int, int, int]], width: int = 24) -> dict:
    """A pad value for gradio_client: black lines (x0, y0, x1, y1) on a white 280 px canvas."""
    return pad_file(np.asarray(Image.fromarray(lines_image(lines, width)).convert("RGBA")), tmp_path / "pad.png")


def plot_pixels(value: Any, min_side: int = 150) -> np.ndarray:
    """The picture in a gr.Plot value as gradio_client returns it (matplotlib as PNG or WebP), as greyscale pixels.

    Fails unless it is a picture at least `min_side` px each way with visible content (not one flat colour)."""
    import base64
    from io import BytesIO

    assert isinstance(value, dict) and value.get("type") == "matplotlib", f"not a matplotlib plot: {str(value)[:80]}"
    head, _, data = str(value.get("plot", "")).partition(",")
    assert head in ("data:image/png;base64", "data:image/webp;base64"), head[:40]
    img = np.asarray(Image.open(BytesIO(base64.b64decode(data))).convert("L"), np.float32)
    assert min(img.shape) >= min_side, f"a {img.shape} plot is too small to show anything"
    assert img.std() > 5, "the plot is a flat colour"
    return img
