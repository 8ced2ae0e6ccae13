"""MNIST loading: in-memory tensors, and a clear error naming MNIST_DATA_DIR when it cannot be had."""

from __future__ import annotations

import urllib.error

import pytest
import torch

from mnist_demo import data
from tests.support.data import needs_mnist


def test_offline_without_data_names_the_env_var(tmp_path, monkeypatch) -> None:
    from torchvision.datasets import MNIST

    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(MNIST, "download", offline)
    data._load.cache_clear()
    with pytest.raises(data.MnistUnavailableError, match="MNIST_DATA_DIR"):
        data.load_mnist(train=False)
    assert not data.mnist_available()
    data._load.cache_clear()


@needs_mnist
def test_real_mnist_in_memory() -> None:
    train, test = data.load_mnist(True), data.load_mnist(False)
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == torch.uint8
    assert test.labels.shape == (10_000,) and set(test.labels.unique().tolist()) == set(range(10))
    x = test.float_images(n=5)
    assert x.shape == (5, 1, 28, 28) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert data.load_mnist(False) is test  # loaded once, cached
