"""What a visitor sees when something fails: the core's expected failures as plain gr.Error messages."""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import Any

import gradio as gr

from mnist_demo.background import BusyError
from mnist_demo.checkpoints import CheckpointError
from mnist_demo.data import MnistUnavailableError
from mnist_demo.drawing.pen_data import PenDataUnavailableError
from mnist_demo.drawing.preprocess import BadImageError

MNIST_HELP = ("MNIST is not available here. Set MNIST_DATA_DIR to a folder holding MNIST/raw "
              "(the four *-ubyte files) or run once with internet access; the Draw tab works without it.")


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
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return gr.Error(exc.args[0])  # str(KeyError) wraps the message in quotes
    return gr.Error(str(exc))


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
