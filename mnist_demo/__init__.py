"""mnist_demo: classic PyTorch MNIST models, trained, explained and served to a Gradio app.

The public API is `predict_digit(image, model="best")`; everything else lives in submodules.
"""

from __future__ import annotations

from typing import Any

__all__ = ["predict_digit"]


def predict_digit(image: Any, model: str = "best") -> dict[str, float]:
    """Digit -> probability (all ten) for a Sketchpad dict, numpy array or PIL image (imports torch lazily)."""
    from .predict import predict_digit as _predict

    return _predict(image, model)
