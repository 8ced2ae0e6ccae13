"""The t-SNE recipe: last-layer features, PCA, exact neighbours and openTSNE, from scratch or warm-started.

Heavy imports (openTSNE, scikit-learn) happen here at import time on purpose: importing them later inside
the live t-SNE thread would hold the import lock and the GIL for seconds while a model trains.

Recipe (chosen in benchmarks/tsne_speed.py): PCA to ≤ 50 dimensions (randomised SVD fitted on ≤ 1,000
rows), exact k-nearest neighbours (k = 3 × perplexity) by blocked matrix products, openTSNE affinities
from those neighbours, PCA initialisation, then 125 iterations of early exaggeration and 250 normal ones with
Barnes–Hut gradients below 5,000 points, and 80 + 170 iterations with FFT interpolation above.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from openTSNE import TSNEEmbedding, affinity
from openTSNE.nearest_neighbors import PrecomputedNeighbors
from scipy.spatial import procrustes
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_limits
from torch import nn

from ..engine import eval_mode

PCA_DIMS = 50
MIN_POINTS, MAX_POINTS = 50, 10_000
MIN_PERPLEXITY, MAX_PERPLEXITY = 2.0, 100.0
FFT_FROM = 5_000  # openTSNE's FFT gradient beats Barnes–Hut from about here on


_F = TypeVar("_F", bound=Callable[..., Any])
_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter: Any = None


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """NumPy's OpenBLAS on one thread while any t-SNE work runs (reference-counted across threads).

    Small matrix products here are not worth a second thread, and on a busy 2-core CPU OpenBLAS's spinning
    threads made them ~100x slower (PCA of 500 x 1568 features: 2.1 s with 2 threads, 0.02 s with 1).
    Torch's own thread pool is not touched, so a model training meanwhile keeps its threads.
    """
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            _blas_limiter = threadpool_limits(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def one_blas_thread(fn: _F) -> _F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with single_threaded_blas():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ---------- features ----------
def device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def features_and_predictions(model: nn.Module, images: torch.Tensor, batch: int = 1000
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Last hidden layer (N, D) float32 and predicted digits (N,) for float images (N, 1, 28, 28) in [0, 1]."""
    dev = device_of(model)
    feats, preds = [], []
    with eval_mode(model):
        for i in range(0, images.shape[0], batch):
            f = model.features(images[i:i + batch].to(dev))  # (B, D)
            head = getattr(model, "head", None)
            logits = head(f) if head is not None else model(images[i:i + batch].to(dev))
            feats.append(f.float().cpu())
            preds.append(logits.argmax(1).cpu())
    return torch.cat(feats).numpy(), torch.cat(preds).numpy()


def last_layer_features(model: nn.Module, images: torch.Tensor, batch: int = 1000) -> np.ndarray:
    """Last hidden layer (N, D) float32 for float images (N, 1, 28, 28) in [0, 1]."""
    return features_and_predictions(model, images, batch)[0]


# ---------- PCA and neighbours ----------
@dataclass(frozen=True)
class Projection:
    """Centring plus an optional linear map to ≤ 50 dimensions; applied to new points the same way."""

    mean: np.ndarray  # (D,)
    components: np.ndarray | None  # (d, D), None when D ≤ 50 (features are only centred)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(n, D) features -> (n, d) float32."""
        xc = np.asarray(x, np.float32) - self.mean
        return np.ascontiguousarray(xc if self.components is None else xc @ self.components.T, dtype=np.float32)


@one_blas_thread
def fit_pca(features: np.ndarray, dims: int = PCA_DIMS, seed: int = 0, max_rows: int = 1000) -> Projection:
    """PCA to `dims` dimensions by randomised SVD on ≤ max_rows rows (keeps ~88% of the CNN's variance)."""
    x = np.asarray(features, np.float32)
    mean = x.mean(0)
    if x.shape[1] <= dims:
        return Projection(mean, None)
    rows = x if len(x) <= max_rows else x[np.random.default_rng(seed).choice(len(x), max_rows, replace=False)]
    k = min(dims, rows.shape[0] - 1)
    _, _, vt = randomized_svd(rows - mean, k, n_iter=4, random_state=seed)
    return Projection(mean, vt.astype(np.float32))


@one_blas_thread
def nearest_neighbours(points: np.ndarray, k: int, queries: np.ndarray | None = None, block: int = 1024
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean k-NN (indices, distances), each (M, k), sorted; without `queries` a point is not its own."""
    x = np.asarray(points, np.float32)
    q = x if queries is None else np.asarray(queries, np.float32)
    k = min(k, len(x) - (1 if queries is None else 0))
    sq_x = (x * x).sum(1)
    idx_out = np.empty((len(q), k), np.int64)
    dist_out = np.empty((len(q), k), np.float64)
    for s in range(0, len(q), block):
        qb = q[s:s + block]
        d2 = (qb * qb).sum(1)[:, None] + sq_x[None, :] - 2.0 * (qb @ x.T)  # (b, N) squared distances
        if queries is None:
            d2[np.arange(len(qb)), np.arange(s, s + len(qb))] = np.inf
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        dd = np.take_along_axis(d2, part, 1)
        order = np.argsort(dd, axis=1, kind="stable")
        idx_out[s:s + len(qb)] = np.take_along_axis(part, order, 1)
        dist_out[s:s + len(qb)] = np.sqrt(np.maximum(np.take_along_axis(dd, order, 1), 0.0))
    return idx_out, dist_out


def check_request(n: int, perplexity: float) -> None:
    if not MIN_PERPLEXITY <= perplexity <= MAX_PERPLEXITY:
        raise ValueError(f"perplexity must be between {MIN_PERPLEXITY:g} and {MAX_PERPLEXITY:g}, got {perplexity:g}")
    if n <= 3 * perplexity:
        raise ValueError(f"t-SNE needs more than 3 × perplexity points: {n} points, perplexity {perplexity:g}")


def _affinities(x: np.ndarray, perplexity: float, n_jobs: int):
    idx, dist = nearest_neighbours(x, int(3 * perplexity))
    return affinity.PerplexityBasedNN(knn_index=PrecomputedNeighbors(idx, dist), perplexity=perplexity,
                                      n_jobs=n_jobs)


def _pca_init(x: np.ndarray, seed: int) -> np.ndarray:
    """First two principal components scaled to std 1e-4 (openTSNE's convention); random if degenerate."""
    xc = x - x.mean(0)
    try:
        _, _, vt = np.linalg.svd(xc[: min(len(xc), 2000)], full_matrices=False)
        y = xc @ vt[:2].T
    except np.linalg.LinAlgError:
        y = np.zeros((len(x), 2))
    if not np.isfinite(y).all() or y[:, 0].std() < 1e-12:
        y = np.random.default_rng(seed).normal(size=(len(x), 2))
    return np.ascontiguousarray(y / y[:, 0].std() * 1e-4, dtype=np.float64)


# ---------- t-SNE ----------
@one_blas_thread
def tsne_2d(features: np.ndarray, perplexity: float = 30.0, seed: int = 0, n_jobs: int = 1,
            reduced: bool = False, schedule: tuple[int, int] | None = None) -> np.ndarray:
    """A from-scratch t-SNE map (N, 2) float32 of features (N, D); `reduced` = already PCA-projected.

    `schedule` = (early-exaggeration iterations, normal iterations), default (125, 250); (80, 170) with FFT.
    """
    x = np.asarray(features, np.float32)
    check_request(len(x), perplexity)
    if not reduced:
        x = fit_pca(x, seed=seed).apply(x)
    # n_jobs=1 by default: on a shared 2-core CPU openTSNE's OpenMP threads spun idle (a 500-point map took
    # 25 CPU-s with 2 threads against 1.7 s with 1), and the app trains models on the other core.
    jobs = max(1, int(n_jobs))
    aff = _affinities(x, perplexity, jobs)
    big = len(x) >= FFT_FROM
    # Last-layer features are well separated and converge fast: 125 + 250 iterations gave the same 10-NN
    # accuracy as openTSNE's default 250 + 500 at 500, 2,000, 5,000 and 10,000 points in half the time.
    # FFT maps shorten further: at 10,000 points 80 + 170 drew the same map (10-NN 0.9873 vs 0.9877, same
    # clusters and layout) in 8.6 s instead of 17.9 s; the last iterations cost most, as the map spreads
    # over more FFT cells.
    ee_iter, n_iter = schedule or ((80, 170) if big else (125, 250))
    emb = TSNEEmbedding(_pca_init(x, seed), aff, negative_gradient_method="fft" if big else "bh",
                        random_state=seed, n_jobs=jobs)
    emb = emb.optimize(ee_iter, exaggeration=12, momentum=0.5)
    emb = emb.optimize(n_iter, momentum=0.8)
    return np.asarray(emb, dtype=np.float32)


@one_blas_thread
def warm_tsne_2d(features: np.ndarray, previous: np.ndarray, perplexity: float = 30.0, seed: int = 0,
                 n_jobs: int = 1, ee_iter: int = 30, n_iter: int = 70) -> np.ndarray:
    """One animation frame: t-SNE of new features started from the previous frame's map (same points)."""
    x = np.asarray(features, np.float32)
    check_request(len(x), perplexity)
    prev = np.ascontiguousarray(previous, dtype=np.float64)
    if prev.shape != (len(x), 2):
        raise ValueError(f"previous map must be ({len(x)}, 2), got {prev.shape}")
    # No PCA here: at 500 points exact distances in the full space cost less than fitting a PCA.
    aff = _affinities(x, perplexity, n_jobs)
    emb = TSNEEmbedding(prev, aff, negative_gradient_method="bh", random_state=seed, n_jobs=n_jobs)
    # A short, mild exaggeration lets clusters that the network has just separated pull apart;
    # without it 10-NN accuracy lagged the from-scratch maps by ~1 point.
    if ee_iter:
        emb = emb.optimize(ee_iter, exaggeration=4, momentum=0.5)
    emb = emb.optimize(n_iter, momentum=0.8)
    return np.asarray(emb, dtype=np.float32)


def knn_label_accuracy(embedding: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Share of points whose k nearest map neighbours' majority label is their own (map quality)."""
    idx, _ = nearest_neighbours(np.asarray(embedding, np.float32), k)
    votes = np.asarray(labels)[idx]  # (N, k)
    counts = np.stack([(votes == d).sum(1) for d in range(10)], 1)
    return float((counts.argmax(1) == np.asarray(labels)).mean())


def procrustes_disparity(a: np.ndarray, b: np.ndarray) -> float:
    """Shape difference of two maps of the same points after the best shift, rotation and scale (0 = same)."""
    return float(procrustes(np.asarray(a, float), np.asarray(b, float))[2])
