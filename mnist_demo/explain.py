"""Why a classifier read a drawing as it did: saliency, occlusion, conv feature maps, LSTM row states.

Everything takes one preprocessed image (28, 28) in [0, 1] (white ink on black, as Draw feeds the
models) and any classifier of `mnist_demo.models`. Nothing here changes the model: parameters keep
their `requires_grad` flags, gradients are taken with respect to the input only, and forward hooks
record only the calls made by the thread that registered them (Draw may be using the same model).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from .engine import eval_mode

SALIENCY_METHODS = ("integrated", "grad_x_input", "gradient")
# Riemann midpoints. Measured on the committed models: the attributions add up to log p(x) - log p(black)
# within ~0.25 nats at 16 steps and ~0.05 at 256; 16 is plenty for a picture and keeps the batch small.
IG_STEPS = 16
PATCH = 6  # occlusion patch side (px): about one stroke width plus a margin
STRIDE = 2  # (28 - 6) / 2 + 1 = 12 positions per axis, so the patches tile the frame exactly
FILL = 0.0  # occluded pixels become background (no ink), the same value MNIST's margins have

T = TypeVar("T")


@dataclass(frozen=True)
class ClassMaps:
    """Saliency and occlusion maps of one class for one image."""

    digit: int
    prob: float
    saliency: np.ndarray  # (28, 28): >0 = this pixel's ink raises log p(digit), <0 = lowers it
    occlusion: np.ndarray  # (28, 28): drop of p(digit) when a patch over the pixel is blanked (mean of patches)
    method: str


@dataclass(frozen=True)
class Explanation:
    """The top class and the runner-up of one image, each with its maps."""

    image: np.ndarray  # (28, 28) the model input
    probs: np.ndarray  # (10,)
    top: ClassMaps
    runner_up: ClassMaps


@dataclass(frozen=True)
class LayerMaps:
    """The output of one conv layer for one image."""

    name: str  # module path in the model, e.g. "conv1.0" or "c3"
    layer: str  # e.g. "Conv2d(6→16, 5×5)"
    maps: np.ndarray  # (C, H, W)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width)."""
        return tuple(self.maps.shape)  # type: ignore[return-value]


def _check_image(img28: np.ndarray) -> np.ndarray:
    a = np.asarray(img28, dtype=np.float32)
    if a.shape != (28, 28):
        raise ValueError(f"expected a preprocessed 28×28 image, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("the image holds NaN or infinite pixels")
    return a


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _as_batch(img28: np.ndarray, model: nn.Module) -> torch.Tensor:
    return torch.from_numpy(_check_image(img28).copy()).view(1, 1, 28, 28).to(_device(model))


def class_probs(model: nn.Module, img28: np.ndarray) -> np.ndarray:
    """Probabilities (10,) of one image."""
    with eval_mode(model), torch.no_grad():
        p = model(_as_batch(img28, model)).softmax(1)[0].double().cpu().numpy()
    return p / p.sum()


def saliency_maps(model: nn.Module, img28: np.ndarray, targets: list[int], method: str = "integrated",
                  steps: int = IG_STEPS) -> np.ndarray:
    """Saliency (len(targets), 28, 28) of log p(target) in one batched forward and backward.

    integrated: integrated gradients from a black image (attributions sum to log p(x) - log p(black));
    grad_x_input: gradient × input; gradient: the raw gradient, which is also non-zero off the ink
    (where adding ink would raise or lower the class).
    """
    if method not in SALIENCY_METHODS:
        raise ValueError(f"unknown saliency method {method!r}; use one of {', '.join(SALIENCY_METHODS)}")
    x = _as_batch(img28, model)  # (1, 1, 28, 28)
    k = steps if method == "integrated" else 1
    alphas = ((torch.arange(k, dtype=torch.float32, device=x.device) + 0.5) / k).view(k, 1, 1, 1)
    path = (alphas * x) if method == "integrated" else x  # (k, 1, 28, 28) from black to x
    # One row block per target, so every class's gradient comes out of a single backward pass.
    batch = path.repeat(len(targets), 1, 1, 1).requires_grad_(True)  # (T*k, 1, 28, 28)
    tgt = torch.tensor(targets, device=x.device).repeat_interleave(k)
    with eval_mode(model), torch.enable_grad():
        logp = model(batch).log_softmax(1)
        grad, = torch.autograd.grad(logp.gather(1, tgt[:, None]).sum(), batch)
    grad = grad.view(len(targets), k, 28, 28).mean(1)  # (T, 28, 28)
    out = grad if method == "gradient" else grad * x[0]
    return out.detach().cpu().numpy().astype(np.float32)


def _patch_origins(patch: int, stride: int) -> list[int]:
    if not 1 <= patch <= 28 or stride < 1:
        raise ValueError(f"occlusion patch must be 1–28 px and stride ≥ 1, got {patch} and {stride}")
    starts = list(range(0, 28 - patch + 1, stride))
    if starts[-1] != 28 - patch:  # always reach the right and bottom edges
        starts.append(28 - patch)
    return starts


def _spread(drops: np.ndarray, origins: list[tuple[int, int]], patch: int) -> np.ndarray:
    """Patch drops (P, C) -> per-pixel mean over the patches covering it (C, 28, 28)."""
    total = np.zeros((drops.shape[1], 28, 28), np.float64)
    count = np.zeros((28, 28), np.float64)
    for (r, c), d in zip(origins, drops):
        total[:, r:r + patch, c:c + patch] += d[:, None, None]
        count[r:r + patch, c:c + patch] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def occlusion_maps(model: nn.Module, img28: np.ndarray, patch: int = PATCH, stride: int = STRIDE,
                   fill: float = FILL, batched: bool = True) -> np.ndarray:
    """Drop of every class's probability (10, 28, 28) when a patch around each pixel is blanked.

    All patches go through the model in one batch (`batched=False` runs one forward per patch, the
    naive baseline the benchmark compares with). A patch that already equals `fill` everywhere
    changes nothing, so it is not run and its drop is exactly 0.
    """
    a = _check_image(img28)
    starts = _patch_origins(patch, stride)
    origins = [(r, c) for r in starts for c in starts]
    live = [(r, c) for r, c in origins if not np.all(a[r:r + patch, c:c + patch] == fill)]
    base = class_probs(model, a)  # (10,)
    drops = np.zeros((len(origins), base.shape[0]), np.float64)
    if live:
        x = np.repeat(a[None], len(live), 0)  # (P, 28, 28)
        for i, (r, c) in enumerate(live):
            x[i, r:r + patch, c:c + patch] = fill
        xt = torch.from_numpy(x).unsqueeze(1).to(_device(model))
        with eval_mode(model), torch.no_grad():
            if batched:
                p = model(xt).softmax(1)
            else:
                p = torch.cat([model(xt[i:i + 1]).softmax(1) for i in range(xt.shape[0])])
        index = {o: i for i, o in enumerate(origins)}
        drops[[index[o] for o in live]] = base[None] - p.double().cpu().numpy()
    return _spread(drops, origins, patch)


def explain(model: nn.Module, img28: np.ndarray, method: str = "integrated", patch: int = PATCH,
            stride: int = STRIDE) -> Explanation:
    """Saliency and occlusion maps for the predicted class and the runner-up of one image."""
    a = _check_image(img28)
    probs = class_probs(model, a)
    order = np.argsort(-probs, kind="stable")
    top, second = int(order[0]), int(order[1])
    sal = saliency_maps(model, a, [top, second], method)
    occ = occlusion_maps(model, a, patch, stride)
    return Explanation(a, probs, ClassMaps(top, float(probs[top]), sal[0], occ[top], method),
                       ClassMaps(second, float(probs[second]), sal[1], occ[second], method))


def _describe(m: nn.Conv2d) -> str:
    k = "×".join(str(v) for v in m.kernel_size)
    return f"Conv2d({m.in_channels}→{m.out_channels}, {k})"


def conv_feature_maps(model: nn.Module, img28: np.ndarray) -> list[LayerMaps]:
    """The output of every Conv2d layer, in forward order, for one image (empty for models without any)."""
    x = _as_batch(img28, model)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    seen: list[LayerMaps] = []
    me = threading.get_ident()

    def hook_for(name: str, mod: nn.Conv2d):
        def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
            if threading.get_ident() == me:  # other threads may be predicting with this shared model
                seen.append(LayerMaps(name, _describe(mod), out[0].detach().cpu().numpy().astype(np.float32)))
        return hook

    handles = [m.register_forward_hook(hook_for(n, m)) for n, m in convs]
    try:
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def lstm_row_states(model: nn.Module, img28: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(hidden state after each row (28, H), digit the LSTM would answer after each row (28,)) or None."""
    if not hasattr(model, "row_states"):
        return None
    x = _as_batch(img28, model)
    with eval_mode(model), torch.no_grad():
        states = model.row_states(x)[0]  # (28, H)
        digits = model.head(states).argmax(1)  # (28,)
    return states.cpu().numpy().astype(np.float32), digits.cpu().numpy()


def image_key(img28: np.ndarray) -> str:
    """A short hash of a preprocessed image, for caching per drawing."""
    return hashlib.sha1(np.ascontiguousarray(img28, np.float32).tobytes()).hexdigest()[:16]


class ExplainCache:
    """A small thread-safe LRU keyed by (drawing, model name, what); a model swapped under a name misses.

    Visitors' own models share names across sessions ("yours: cnn #1"), so each entry keeps a weak
    reference to the model it was computed with and only answers for that same object.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple, tuple[weakref.ref, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: tuple, model: nn.Module, compute: Callable[[], T]) -> T:
        """Cached value for (key, model), else compute() and remember it."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0]() is model:
                self._items.move_to_end(key)
                return hit[1]
        value = compute()  # outside the lock: two visitors may explain at once
        with self._lock:
            self._items[key] = (weakref.ref(model), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
