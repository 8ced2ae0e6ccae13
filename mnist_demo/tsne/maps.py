"""A model's t-SNE map of the test digits, and where a new drawing lands in it (nearest test digits)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data import MnistSplit
from ..engine import eval_mode
from .algorithms import (
    MAX_POINTS,
    MIN_POINTS,
    Projection,
    check_request,
    device_of,
    features_and_predictions,
    fit_pca,
    nearest_neighbours,
    one_blas_thread,
    tsne_2d,
)

PLACE_K = 10  # neighbours whose map positions place a new point (openTSNE's "median" initialisation)
SHOW_K = 8  # nearest test digits shown next to a drawing


@dataclass(frozen=True)
class TsneMap:
    """A t-SNE map of the first N test images as seen by one model's last layer."""

    name: str
    perplexity: float
    embedding: np.ndarray  # (N, 2) float32
    labels: np.ndarray  # (N,) true digits
    preds: np.ndarray  # (N,) the model's predictions
    reduced: np.ndarray  # (N, d) PCA-projected features, d ≤ 50
    projection: Projection
    seconds: float  # time it took to compute
    source: str = "computed"  # computed | memory | disk

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.embedding.shape[0])

    @property
    def accuracy(self) -> float:
        """The model's accuracy on these N test images."""
        return float((self.preds == self.labels).mean())


@dataclass(frozen=True)
class Placement:
    """Where a new image lands in a map, and its nearest test digits in feature space."""

    xy: np.ndarray  # (2,)
    neighbours: np.ndarray  # (SHOW_K,) indices into the map's points (= test-set indices)
    distances: np.ndarray  # (SHOW_K,)
    pred: int  # the model's reading of the image
    confidence: float


def place_features(tmap: TsneMap, feature: np.ndarray, pred: int = -1, confidence: float = float("nan")
                   ) -> Placement:
    """Place one feature vector (D,): median map position of its nearest test points (openTSNE's transform init)."""
    q = tmap.projection.apply(np.asarray(feature, np.float32).reshape(1, -1))
    idx, dist = nearest_neighbours(tmap.reduced, max(PLACE_K, SHOW_K), queries=q)
    xy = np.median(tmap.embedding[idx[0, :PLACE_K]], axis=0)
    return Placement(xy.astype(np.float32), idx[0, :SHOW_K], dist[0, :SHOW_K], int(pred), float(confidence))


def place_image(tmap: TsneMap, model: nn.Module, image: np.ndarray) -> Placement:
    """Place a 28×28 image in [0, 1] (white on black) into the map of `model`."""
    x = torch.as_tensor(np.asarray(image, np.float32)).reshape(1, 1, 28, 28)
    feats, _ = features_and_predictions(model, x)
    with torch.inference_mode(), eval_mode(model):
        probs = model(x.to(device_of(model))).softmax(1)[0].cpu()
    return place_features(tmap, feats[0], int(probs.argmax()), float(probs.max()))


@one_blas_thread
def compute_map(model: nn.Module, name: str, split: MnistSplit, n: int, perplexity: float = 30.0,
                seed: int = 0) -> TsneMap:
    """Features of the first n images of `split`, PCA, and a from-scratch t-SNE map."""
    n = int(n)
    if not MIN_POINTS <= n <= min(MAX_POINTS, len(split)):
        raise ValueError(f"number of points must be between {MIN_POINTS} and {min(MAX_POINTS, len(split))}, got {n}")
    check_request(n, perplexity)
    t0 = time.perf_counter()
    feats, preds = features_and_predictions(model, split.float_images("cpu", n))
    proj = fit_pca(feats, seed=seed)
    reduced = proj.apply(feats)
    emb = tsne_2d(reduced, perplexity, seed, reduced=True)
    return TsneMap(name, float(perplexity), emb, split.labels[:n].numpy().copy(), preds, reduced, proj,
                   time.perf_counter() - t0)
