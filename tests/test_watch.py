"""Predict while it trains: one probability vector per evaluation step for the visitor's drawing."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from mnist_demo.config import TrainConfig
from mnist_demo.models import build_model
from mnist_demo.watch import DrawingWatcher, watch_training


def _cfg(**kw: object) -> TrainConfig:
    base = dict(epochs=5, batch_size=32, lr=1e-2, optimizer="adam", eval_every=2, eval_size=64, log_every=1,
                seed=0, max_steps=6)
    base.update(kw)
    return TrainConfig(**base)


def _bar_digit(k: int) -> np.ndarray:
    """A clean example of tiny_split's class k (a bright bar at row 2k+4)."""
    img = np.zeros((28, 28), np.float32)
    img[2 * k + 4: 2 * k + 6, 4:24] = 1.0
    return img


def test_one_probability_vector_per_evaluation_step(tiny_split) -> None:
    torch.manual_seed(0)
    model = build_model("mlp")
    out = list(watch_training(model, _cfg(), tiny_split, tiny_split, _bar_digit(3)))
    eval_steps = [ev.step for ev, _ in out if ev.test_acc is not None]
    vectors = [p for ev, p in out if ev.test_acc is not None]
    assert eval_steps == [2, 4, 6]
    assert all(p is None for ev, p in out if ev.test_acc is None)
    assert len(vectors) == len(eval_steps)
    for p in vectors:
        assert p.shape == (10,) and np.all(p >= 0) and abs(p.sum() - 1) < 1e-9


def test_the_model_makes_up_its_mind(tiny_split) -> None:
    torch.manual_seed(0)
    model, watcher = build_model("mlp"), DrawingWatcher(_bar_digit(3))
    from mnist_demo.engine import train_classifier

    for ev in train_classifier(model, _cfg(epochs=10, max_steps=60, eval_every=10), tiny_split, tiny_split):
        if ev.test_acc is not None:
            watcher.observe(ev.step, model)
    h = watcher.history
    assert h.steps == [10, 20, 30, 40, 50, 60] and h.probs.shape == (6, 10) and len(h) == 6
    np.testing.assert_allclose(h.probs.sum(1), 1, atol=1e-9)
    assert h.digits[-1] == 3 and h.probs[-1, 3] > h.probs[0, 3]


def test_observe_keeps_the_model_training() -> None:
    model = build_model("cnn").train()
    watcher = DrawingWatcher(_bar_digit(1))
    p = watcher.observe(5, model)
    assert p is not None and model.training
    assert all(q.requires_grad and q.grad is None for q in model.parameters())


def test_blank_pad_gives_an_inactive_watcher() -> None:
    blank = {"background": np.full((280, 280, 3), 255, np.uint8), "layers": [], "composite": None}
    w = DrawingWatcher.from_pad(blank)
    assert not w.active and w.observe(1, build_model("mlp")) is None
    assert len(w.history) == 0 and w.history.probs.shape == (0, 10) and w.history.digits == []


def test_from_pad_reads_a_drawing_once() -> None:
    im = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(im).line([(140, 40), (140, 240)], fill=0, width=24)
    w = DrawingWatcher.from_pad({"background": None, "layers": [], "composite": np.asarray(im)})
    assert w.active and w.image.shape == (28, 28) and w.image.max() > 0.5
    model = build_model("mlp")
    assert len({w.observe(s, model).tobytes() for s in range(3)}) == 1  # same model: same answer


def test_bad_image_shape_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="28×28"):
        DrawingWatcher(np.zeros((14, 14)))
