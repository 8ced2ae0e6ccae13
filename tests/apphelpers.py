"""Launching the real app in-process for gradio_client tests, and drawing test digits to PNG files."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image


def free_port() -> int:
    """A free localhost port (gradio refuses server_port=0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(service=None, **build_kw) -> Iterator[str]:
    """Launch the app built from `service` (default: committed checkpoints on CPU); yield its URL."""
    import app
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service

    service = service or Service(ModelRegistry("cpu"))
    demo = app.build_demo(service, **build_kw)
    demo.queue()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
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
