"""Batched, on-device augmentation: affine + elastic warps, stroke thickness, handwriting styles.

Everything works on whole (B, 1, 28, 28) batches in [0, 1] with torch ops, so the training loop
never touches PIL. Style edits draw the strokes MNIST under-represents (a crossed 7, a 1 with a
flag and a foot, a 9 whose tail curls) onto a random subset of eligible digits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import Augment

_YY, _XX = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")


def draw_segments(img: torch.Tensor, segments: list[tuple[float, float, float, float]],
                  width: float = 2.2) -> torch.Tensor:
    """Anti-aliased strokes (x0, y0, x1, y1 in pixels) drawn onto a (28, 28) image with max-blending."""
    yy, xx = _YY.to(img.device), _XX.to(img.device)
    ink = torch.zeros_like(img)
    for x0, y0, x1, y1 in segments:
        dx, dy = x1 - x0, y1 - y0
        t = ((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-6)
        t = t.clamp(0, 1)
        d = torch.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))
        ink = torch.maximum(ink, (width / 2 + 0.5 - d).clamp(0, 1))
    return torch.maximum(img, ink)


def _ink_box(img: torch.Tensor, thresh: float = 0.3) -> tuple[int, int, int, int] | None:
    ys, xs = torch.nonzero(img > thresh, as_tuple=True)
    if ys.numel() == 0:
        return None
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def _row_centre(img: torch.Tensor, y: int) -> float | None:
    xs = torch.nonzero(img[y] > 0.3, as_tuple=True)[0]
    return None if xs.numel() == 0 else float(xs.float().mean())


def style_edit(img: torch.Tensor, label: int, gen: torch.Generator) -> torch.Tensor:
    """One (28, 28) digit with a style stroke added: crossed 7, flag-and-foot 1, curled-tail 9."""
    box = _ink_box(img)
    if box is None:
        return img
    y0, y1, x0, x1 = box
    h, w = y1 - y0 + 1, x1 - x0 + 1
    r = torch.rand(3, generator=gen).tolist()
    width = 1.8 + 1.2 * r[2]
    if label == 7:  # a crossbar through the stem at 50-65% of the height
        y = int(y0 + (0.5 + 0.15 * r[0]) * h)
        xc = _row_centre(img, y)
        if xc is None:
            return img
        half = max(3.0, 0.28 * w + 2 * r[1])
        return draw_segments(img, [(xc - half, y, xc + half, y)], width)
    if label == 1:  # a long flag from the top going down-left, and (often) a foot
        xt = _row_centre(img, y0) or (x0 + x1) / 2
        xb = _row_centre(img, y1) or (x0 + x1) / 2
        segs = [(xt, y0, xt - 3 - 3 * r[0], y0 + 3 + 2 * r[1])]
        if r[1] > 0.35:
            segs.append((xb - 3.5, y1, xb + 3.5, y1))
        return draw_segments(img, segs, width)
    if label == 9:  # the tail curls left like a "g"
        xb = _row_centre(img, y1)
        if xb is None:
            return img
        dx = 3 + 2 * r[0]
        return draw_segments(img, [(xb, y1, xb - dx, y1 + 0.5), (xb - dx, y1 + 0.5, xb - dx - 1.5, y1 - 2 - r[1])],
                             width)
    return img


def _affine(x: torch.Tensor, aug: Augment, gen: torch.Generator) -> torch.Tensor:
    b, dev = x.shape[0], x.device
    u = torch.rand(b, 5, generator=gen).to(dev) * 2 - 1  # uniform in [-1, 1]
    ang = u[:, 0] * math.radians(aug.rotate_deg)
    lo, hi = aug.scale
    s = lo + (u[:, 1] + 1) / 2 * (hi - lo)
    sh = u[:, 2] * aug.shear
    tx, ty = u[:, 3] * aug.shift_px * 2 / 28, u[:, 4] * aug.shift_px * 2 / 28
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s  # grid maps output -> input, so divide by scale
    theta = torch.stack([torch.stack([cos, -sin + sh, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if aug.elastic:
        noise = torch.randn(b, 2, 5, 5, generator=gen).to(dev) * (aug.elastic * 2 / 28)
        grid = grid + F.interpolate(noise, size=(28, 28), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _thickness(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    b, dev = x.shape[0], x.device
    r = torch.rand(b, 2, generator=gen).to(dev)
    dil = F.max_pool2d(x, 3, 1, 1)
    ero = -F.max_pool2d(-x, 3, 1, 1)
    amount = (0.4 + 0.6 * r[:, 1]).view(b, 1, 1, 1)  # partial morphology: MNIST-like widths, not 3 px jumps
    thick = (r[:, 0] < p / 2).view(b, 1, 1, 1)
    thin = ((r[:, 0] >= p / 2) & (r[:, 0] < p)).view(b, 1, 1, 1)
    x = torch.where(thick, x + amount * (dil - x), x)
    return torch.where(thin, x + 0.3 * amount * (ero - x), x)  # full erosion erases MNIST's thin strokes


def augment_batch(x: torch.Tensor, y: torch.Tensor, aug: Augment, gen: torch.Generator) -> torch.Tensor:
    """Augmented copy of a batch x (B, 1, 28, 28) in [0, 1] with labels y (B,)."""
    if not aug.enabled:
        return x
    x = x.clone()
    if aug.styles_p:
        pick = torch.rand(x.shape[0], generator=gen) < aug.styles_p
        for i in torch.nonzero(pick & torch.isin(y.cpu(), torch.tensor([1, 7, 9])), as_tuple=True)[0].tolist():
            x[i, 0] = style_edit(x[i, 0], int(y[i]), gen)
    if aug.thickness_p:
        x = _thickness(x, aug.thickness_p, gen)
    if aug.rotate_deg or aug.scale != (1.0, 1.0) or aug.shift_px or aug.shear or aug.elastic:
        x = _affine(x, aug, gen)
    return x.clamp_(0, 1)
