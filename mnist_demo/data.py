"""MNIST held in memory as tensors, loaded once through torchvision from MNIST_DATA_DIR."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import torch

from .config import data_dir

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class MnistUnavailableError(RuntimeError):
    """MNIST is neither on disk nor downloadable; the message says how to fix it."""


@dataclass(frozen=True)
class MnistSplit:
    """One split as uint8 images (N, 28, 28) and int64 labels (N,), on the CPU."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def float_images(self, device: torch.device | str = "cpu", n: int | None = None) -> torch.Tensor:
        """First n images as float (n, 1, 28, 28) in [0, 1] on `device`."""
        x = self.images if n is None else self.images[:n]
        return x.to(device).unsqueeze(1).float().div_(255.0)


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load(root: str, train: bool) -> MnistSplit:
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(root, train=train, download=False)
    except RuntimeError:
        try:
            ds = MNIST(root, train=train, download=True)
        except Exception as exc:  # network errors come in many types (URLError, OSError, ...)
            raise MnistUnavailableError(
                f"MNIST is not in {root}/MNIST/raw and could not be downloaded ({type(exc).__name__}). "
                "Set MNIST_DATA_DIR to a directory holding MNIST/raw/*-ubyte, "
                "or run once with internet access to download it."
            ) from exc
    return MnistSplit(ds.data.contiguous(), ds.targets.long().contiguous())


def load_mnist(train: bool) -> MnistSplit:
    """The training (60k) or test (10k) split, read once per process and cached."""
    with _lock:  # two UI events must not download/parse the same files at once
        return _load(str(data_dir()), train)


def mnist_available() -> bool:
    """True when the test split can be loaded (on disk or downloadable)."""
    try:
        load_mnist(train=False)
    except MnistUnavailableError:
        return False
    return True
