"""Batch augmentation: shapes, ranges, determinism, and the handwriting-style strokes."""

from __future__ import annotations

import torch

from mnist_demo.augment import augment_batch, draw_segments, style_edit
from mnist_demo.config import Augment
from mnist_demo.models import PAD_AUGMENT


def test_augment_keeps_shape_range_and_is_seeded(tiny_split) -> None:
    x = tiny_split.float_images(n=32)
    y = tiny_split.labels[:32]
    a = augment_batch(x, y, PAD_AUGMENT, torch.Generator().manual_seed(1))
    b = augment_batch(x, y, PAD_AUGMENT, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_disabled_augment_is_identity(tiny_split) -> None:
    x = tiny_split.float_images(n=4)
    assert augment_batch(x, tiny_split.labels[:4], Augment(), torch.Generator()) is x


def test_style_edits_add_ink_to_7_1_9_only() -> None:
    img = draw_segments(torch.zeros(28, 28), [(8, 6, 20, 6), (20, 6, 12, 23)])  # a plain 7
    g = torch.Generator().manual_seed(0)
    crossed = style_edit(img, 7, g)
    assert crossed.sum() > img.sum() + 3
    assert torch.equal(style_edit(img, 3, g), img)
