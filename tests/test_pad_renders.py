"""Pad renders: training digits drawn on the pad and read back through preprocess."""

from __future__ import annotations

import pytest
import torch

from mnist_demo.config import TrainConfig
from mnist_demo.data import MnistSplit
from mnist_demo.drawing import pad_renders as PR
from mnist_demo.models import MODELS, get_spec
from mnist_demo.service import Service
from tests.support.data import needs_mnist

pytest.importorskip("skimage")


@needs_mnist
def test_renders_look_like_preprocessed_drawings(mnist_test) -> None:
    src = MnistSplit(mnist_test.images[:24], mnist_test.labels[:24])
    out = PR.render_pad_set(src, 24, seed=3)
    assert out.images.shape == (24, 28, 28) and out.images.dtype == torch.uint8
    # A seeded choice of all 24 keeps every label, in index order.
    assert torch.equal(out.labels, src.labels)
    x = out.images.float() / 255
    # MNIST framing: ink inside the central 20-px box area, centred by mass within a pixel or two.
    assert float(x[:, :2].sum() + x[:, -2:].sum()) < 0.01 * float(x.sum())
    ys = torch.arange(28.0).view(1, 28, 1)
    cy = (x * ys).sum((1, 2)) / x.sum((1, 2))
    assert float((cy - 13.5).abs().max()) < 2.5
    # Redrawn, not copied: a pen of constant width differs from the original strokes.
    assert not torch.equal(out.images, src.images)
    # Same seed, same renders (the cache and the CLI's recipe depend on it).
    assert torch.equal(PR.render_pad_set(src, 24, seed=3).images, out.images)


@needs_mnist
def test_cache_is_written_once_and_reused(tmp_path, monkeypatch, mnist_test) -> None:
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(PR, "load_mnist", lambda train: MnistSplit(mnist_test.images[:30], mnist_test.labels[:30]))
    first = PR.pad_renders(12, seed=5, workers=1)
    assert (tmp_path / "renders" / f"pad_train_12_5_v{PR.VERSION}.pt").is_file()
    monkeypatch.setattr(PR, "render_pad_set", lambda *a, **k: pytest.fail("rendered again despite the cache"))
    again = PR.pad_renders(12, seed=5)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)


def test_with_pad_renders_appends_and_zero_is_identity(tiny_split, monkeypatch) -> None:
    assert PR.with_pad_renders(tiny_split, 0) is tiny_split
    extra = MnistSplit(torch.zeros(5, 28, 28, dtype=torch.uint8), torch.arange(5))
    monkeypatch.setattr(PR, "pad_renders", lambda n, seed=7: extra)
    both = PR.with_pad_renders(tiny_split, 5)
    assert len(both) == len(tiny_split) + 5 and torch.equal(both.labels[-5:], torch.arange(5))


def test_app_training_never_renders(tmp_path) -> None:
    """The Train tab must not spend minutes rendering: its configs drop pad renders, CLI recipes keep them."""
    from mnist_demo.registry import ModelRegistry

    with_renders = [n for n, s in MODELS.items()
                    if isinstance(s.best_recipe, TrainConfig) and s.best_recipe.pad_renders]
    assert with_renders, "no best recipe uses pad renders"
    svc = Service(ModelRegistry("cpu", tmp_path))
    for name in with_renders:
        assert get_spec(name).best_recipe.pad_renders > 0
        assert svc.train_config(name, "best", 1, 64, 1e-3, "adam", 1000).pad_renders == 0
