"""Plain, slow reference versions of the app's optimised steps: tests check the app's code gives the same
answers, benchmarks time it against them."""

from __future__ import annotations

import numpy as np


def plain_drop_specks(mask: np.ndarray) -> np.ndarray:
    """The plain definition preprocess._drop_specks must match (also benchmarks/preprocess_speed.py's baseline)."""
    from scipy import ndimage

    f = max(1, max(mask.shape) // 96)
    h, w = -(-mask.shape[0] // f) * f, -(-mask.shape[1] // f) * f
    padded = np.zeros((h, w), bool)
    padded[:mask.shape[0], :mask.shape[1]] = mask
    small = padded.reshape(h // f, f, w // f, f).any(axis=(1, 3))
    lab, n = ndimage.label(ndimage.binary_dilation(small))
    if n <= 1:
        return mask
    sizes = ndimage.sum(small, lab, index=np.arange(1, n + 1))
    keep = np.isin(lab, np.nonzero(sizes >= 0.12 * sizes.max())[0] + 1)
    return mask & np.repeat(np.repeat(keep, f, 0), f, 1)[:mask.shape[0], :mask.shape[1]]


def plain_bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The plain definition of preprocess._bounds: from every ink pixel's coordinates."""
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
