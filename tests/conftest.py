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
if "PEN_DATA_DIR" not in os.environ and (REPO.parent / "shared/data/pendigits").is_dir():
    os.environ["PEN_DATA_DIR"] = str(REPO.parent / "shared/data/pendigits")
# CI sets this: missing data or a missing browser then fails the run instead of skipping tests green.
REQUIRE_ALL = os.environ.get("MNIST_DEMO_REQUIRE_ALL") == "1"

# One intra-op thread, as the app runs: the in-process server, the live t-SNE worker and the test's own
# calls run at once, and OpenMP threads spinning against each other made 2-thread ops 10-40x slower here.
torch.set_num_threads(1)

from tests.support.data import HAVE_MNIST, HAVE_PEN, MNIST_MISSING  # noqa: E402  (after the env defaults above)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under MNIST_DEMO_REQUIRE_ALL=1 (CI), stop at once when data or the browser is missing."""
    if not REQUIRE_ALL:
        return
    from harness.browser import unavailable_reason

    missing = [m for m in (None if HAVE_MNIST else "MNIST (MNIST_DATA_DIR)",
                           None if HAVE_PEN else "pen data (PEN_DATA_DIR)", unavailable_reason()) if m]
    if missing:
        pytest.exit("MNIST_DEMO_REQUIRE_ALL=1 but missing: " + "; ".join(missing), returncode=3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses the real test split `mnist`; skip the `mnist` tests when MNIST is missing."""
    for item in items:
        if "mnist_test" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mnist)
        if not HAVE_MNIST and item.get_closest_marker("mnist") is not None:
            item.add_marker(pytest.mark.skip(reason=MNIST_MISSING))


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
        pytest.skip(MNIST_MISSING)
    from mnist_demo.data import load_mnist

    return load_mnist(train=False)
