"""Shared fixtures: real MNIST when MNIST_DATA_DIR holds it, tiny synthetic data otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mnist_demo.data import MnistSplit

REPO = Path(__file__).resolve().parent.parent
if "MNIST_DATA_DIR" not in os.environ and (REPO.parent / "shared/data/MNIST/raw").is_dir():
    os.environ["MNIST_DATA_DIR"] = str(REPO.parent / "shared/data")  # the workplace's copy, when present

# One intra-op thread, as the app runs: the in-process server, the live t-SNE worker and the test's own
# calls run at once, and OpenMP threads spinning against each other made 2-thread ops 10-40x slower here.
torch.set_num_threads(1)


def _have_mnist() -> bool:
    from mnist_demo.config import data_dir

    raw = data_dir() / "MNIST" / "raw"
    return raw.is_dir() and any(raw.glob("t10k-images*"))


HAVE_MNIST = _have_mnist()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found: set MNIST_DATA_DIR (folder with MNIST/raw)")


@pytest.fixture(scope="session")
def tiny_split() -> MnistSplit:
    """256 synthetic 'digits': class k is a bright bar at row 2k+4, so a few steps can learn it."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(256) % 10
    imgs = (torch.rand(256, 28, 28, generator=g) * 40).to(torch.uint8)
    for i, k in enumerate(labels.tolist()):
        imgs[i, 2 * k + 4: 2 * k + 6, 4:24] = 255
    return MnistSplit(imgs, labels)


@pytest.fixture(scope="session")
def mnist_test() -> MnistSplit:
    """The real 10k test split (skips without MNIST)."""
    if not HAVE_MNIST:
        pytest.skip("MNIST not found: set MNIST_DATA_DIR")
    from mnist_demo.data import load_mnist

    return load_mnist(train=False)
