"""Helpers shared by the tab builders: error translation, image scaling, the pad's blank value."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from mnist_demo.checkpoints import CheckpointError
from mnist_demo.data import MnistUnavailableError
from mnist_demo.preprocess import BadImageError

CANVAS = 280  # pad size in px; a 24 px line (brush radius 12) on a ~200 px digit is MNIST's stroke ratio
BRUSH_RADIUS = 12
DRAW_A_DIGIT = "draw a digit"
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


def friendly_errors(fn: Callable) -> Callable:
    """Turn the core's expected failures into gr.Error messages the visitor can act on."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except MnistUnavailableError:
            raise gr.Error(MNIST_HELP) from None
        except CheckpointError as exc:
            raise gr.Error(f"That model is unavailable: {exc}") from None
        except (ValueError, KeyError, BadImageError, RuntimeError) as exc:
            raise gr.Error(str(exc).strip("'\"")) from None

    return wrapper


def friendly_stream(fn: Callable) -> Callable:
    """friendly_errors for generator handlers."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            yield from fn(*args, **kwargs)
        except gr.Error:
            raise
        except MnistUnavailableError:
            raise gr.Error(MNIST_HELP) from None
        except CheckpointError as exc:
            raise gr.Error(f"That model is unavailable: {exc}") from None
        except (ValueError, KeyError, RuntimeError) as exc:
            raise gr.Error(str(exc).strip("'\"")) from None

    return wrapper
