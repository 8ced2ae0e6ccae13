"""Whether the real data is here (MNIST, pen handwriting), and the markers for tests that need it."""

from __future__ import annotations

import pytest


def _have_mnist() -> bool:
    from mnist_demo.config import data_dir

    raw = data_dir() / "MNIST" / "raw"
    return raw.is_dir() and any(raw.glob("t10k-images*"))


def _have_pen_data() -> bool:
    from mnist_demo.drawing.pen_data import pen_data_available

    return pen_data_available()


HAVE_MNIST = _have_mnist()
HAVE_PEN = _have_pen_data()
MNIST_MISSING = "MNIST not found: set MNIST_DATA_DIR (folder with MNIST/raw)"
# The `mnist` marker (pyproject.toml) is what needs MNIST: `-m mnist` runs only those tests, `-m "not mnist"`
# leaves them out, and without the data they skip (pytest_collection_modifyitems below).
needs_mnist = pytest.mark.mnist
needs_pen = pytest.mark.skipif(not HAVE_PEN, reason="no pen data: set PEN_DATA_DIR (folder with pendigits-train)")
