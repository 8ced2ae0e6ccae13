"""Test drawings made by code."""

from __future__ import annotations

from PIL import Image, ImageDraw


def seven(size: int = 280, width: int = 24, box: tuple = (70, 50, 210, 240)) -> Image.Image:
    """A clear black-on-white 7 in `box` (x0, y0, x1, y1)."""
    im = Image.new("L", (size, size), 255)
    x0, y0, x1, y1 = box
    d = ImageDraw.Draw(im)
    d.line([(x0, y0), (x1, y0), (x0 + (x1 - x0) * 0.35, y1)], fill=0, width=width, joint="curve")
    return im
