"""Preprocessing speed: the drawing -> 28x28 pipeline, against its plain-numpy baseline, in the same run.

    python benchmarks/preprocess_speed.py [--drawings 300] [--repeats 5]

The pad sends a 280x280 RGBA picture with every prediction; preprocess() turns it into the MNIST-like input
and runs in the request's thread (holding the GIL for much of it), so under a crowd its cost is paid by every
visitor. The baseline is the same pipeline with the two steps written the plain way (speck removal
downsampling with `.any(axis=(1, 3))` on a 4-d reshape and scipy's binary_dilation; the ink's bounding box
from np.nonzero; both defined in harness/reference.py), which is what the app ran before. Both must give
bit-identical model inputs; the script checks that on every drawing. Drawings: MNIST test digits redrawn with
pens as on the pad (mnist_demo.drawing.sketches). Reports the best-of-repeats mean time per drawing. Ends with one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import _common
import numpy as np
from PIL import Image

from harness.reference import plain_bounds, plain_drop_specks  # the baseline = what the tests compare to
from mnist_demo.drawing import preprocess as P


def pad_drawings(n: int) -> list[np.ndarray]:
    """n pen-drawn MNIST test digits as the pad sends them (280x280 RGBA, uint8)."""
    from mnist_demo.data import load_mnist
    from mnist_demo.drawing.sketches import random_spec, render

    test = load_mnist(train=False)
    rng = np.random.default_rng(0)
    return [np.asarray(Image.fromarray(render(test.images[i].numpy(), random_spec(rng, mode="stroke"))).convert("RGBA"))
            for i in rng.choice(len(test), n, replace=False)]


def time_per_call(fn: Callable[[np.ndarray], object], images: list[np.ndarray], repeats: int) -> float:
    """Best-of-`repeats` mean ms per image."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for im in images:
            fn(im)
        best = min(best, (time.perf_counter() - t) / len(images) * 1000)
    return best


def main(argv: list[str] | None = None) -> dict:
    """Time preprocess() with the app's steps and with the baseline's; check they agree."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--drawings", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    warn = _common.load_warning()
    if warn:
        print(warn)
    images = pad_drawings(args.drawings)
    fast = [P.preprocess(im) for im in images]
    app_steps = (P._drop_specks, P._bounds)
    P._drop_specks, P._bounds = plain_drop_specks, plain_bounds
    try:
        plain = [P.preprocess(im) for im in images]
        same = sum((a is None and b is None) or (a is not None and b is not None and np.array_equal(a.image, b.image))
                   for a, b in zip(fast, plain))
        base_ms = time_per_call(P.preprocess, images, args.repeats)
    finally:
        P._drop_specks, P._bounds = app_steps
    app_ms = time_per_call(P.preprocess, images, args.repeats)
    res = {"benchmark": "preprocess_speed", "drawings": len(images), "identical_outputs": same,
           "baseline_ms": round(base_ms, 2), "app_ms": round(app_ms, 2), "speedup": round(base_ms / app_ms, 2),
           "load_warning": warn or None}
    print(f"preprocess of a 280x280 pad drawing: {app_ms:.2f} ms vs baseline {base_ms:.2f} ms "
          f"({base_ms / app_ms:.2f}x); identical model inputs on {same} of {len(images)} drawings")
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
