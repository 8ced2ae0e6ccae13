"""The maps' two-tier cache: in memory for every model, on disk (npz) for committed checkpoints, keyed by
the checkpoint's content hash; requests rounded to the sliders' steps so the set of maps stays bounded."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..background import call_niced
from ..config import cache_dir as cache_folder
from ..data import MnistSplit, load_mnist
from ..fileio import atomic_write
from ..numbers import as_number
from .algorithms import Projection
from .maps import TsneMap, compute_map

VERSION = 1  # bump when the recipe changes: old disk-cache entries are then ignored


def _save(tmap: TsneMap, path: Path) -> None:
    comps = tmap.projection.components
    atomic_write(path, lambda fh: np.savez(
        fh, embedding=tmap.embedding, labels=tmap.labels, preds=tmap.preds, reduced=tmap.reduced,
        mean=tmap.projection.mean, components=comps if comps is not None else np.zeros((0, 0), np.float32),
        seconds=np.float64(tmap.seconds), perplexity=np.float64(tmap.perplexity)))


def _load(path: Path, name: str) -> TsneMap | None:
    try:
        with np.load(path) as z:
            comps = z["components"]
            return TsneMap(name, float(z["perplexity"]), z["embedding"], z["labels"], z["preds"], z["reduced"],
                           Projection(z["mean"], comps if comps.size else None), float(z["seconds"]), "disk")
    except (OSError, KeyError, ValueError):
        return None  # missing or damaged entry: recompute


MAP_POINTS = (500, 10_000, 500)  # first, last, step: the t-SNE tab's slider
MAP_PERPLEXITY = (5, 100, 1)


def _snap(value: Any, bounds: tuple[int, int, int], what: str) -> int:
    lo, hi, step = bounds
    v = as_number(value, what, lo, hi)  # ValueError for text, NaN, infinity or out of range
    return int(lo + round((v - lo) / step) * step)


def snap_map_request(n: Any, perplexity: Any) -> tuple[int, float]:
    """(points, perplexity) rounded to the sliders' steps, so every request maps onto a bounded set of maps."""
    return _snap(n, MAP_POINTS, "points in the map"), float(_snap(perplexity, MAP_PERPLEXITY, "perplexity"))


class TsneMaps:
    """Maps per (model, points, perplexity, checkpoint hash): on disk for committed checkpoints, in memory for all.

    A visitor's own model (no checkpoint hash) is cached in memory only, keyed weakly by the model object,
    so its maps disappear with the visitor's session.
    """

    def __init__(self, cache_dir: Path | None = None, memory_size: int = 16, max_disk_bytes: int = 100_000_000,
                 nice: int = 0) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache_folder("tsne")
        self.memory_size = memory_size
        self.max_disk_bytes = max_disk_bytes  # least recently used files go past this (about 40 maps of 10k)
        self.nice = nice  # > 0: maps are computed on a lower-priority thread (a shared server)
        self._memory: OrderedDict[tuple, TsneMap] = OrderedDict()
        self._visitors: weakref.WeakKeyDictionary[nn.Module, dict[tuple, TsneMap]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._compute_lock = threading.Lock()  # one t-SNE at a time: two would only share the same cores
        self.computed = 0  # maps computed (not served from a cache): tests and status lines read it

    def path_for(self, name: str, checkpoint_hash: str, n: int, perplexity: float, seed: int = 0) -> Path:
        """Disk-cache file of one committed model's map."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        return self.cache_dir / f"{safe}-{checkpoint_hash}-n{int(n)}-p{perplexity:g}-s{seed}-v{VERSION}.npz"

    def _lookup(self, model: nn.Module, key: tuple, checkpoint_hash: str | None, path: Path | None) -> TsneMap | None:
        with self._lock:
            if checkpoint_hash is None:
                hit = self._visitors.get(model, {}).get(key)
            else:
                hit = self._memory.get(key)
                if hit is not None:
                    self._memory.move_to_end(key)
        if hit is not None:
            return _with_source(hit, "memory")
        if path is not None and path.is_file():
            disk = _load(path, key[0])
            if disk is not None:
                with contextlib.suppress(OSError):
                    os.utime(path)  # recently used: kept longest by _trim_disk
                self._remember(model, key, checkpoint_hash, disk)
                return disk
        return None

    def _remember(self, model: nn.Module, key: tuple, checkpoint_hash: str | None, tmap: TsneMap) -> None:
        with self._lock:
            if checkpoint_hash is None:
                self._visitors.setdefault(model, {})[key] = tmap
            else:
                self._memory[key] = tmap
                while len(self._memory) > self.memory_size:
                    self._memory.popitem(last=False)

    def get(self, model: nn.Module, name: str, n: int = 500, perplexity: float = 30.0,
            checkpoint_hash: str | None = None, seed: int = 0, split: MnistSplit | None = None) -> TsneMap:
        """The map of the first n test images for `model` (cached); checkpoint_hash=None for a visitor's model."""
        n, perplexity = int(n), float(perplexity)
        key = (name, n, perplexity, seed, checkpoint_hash)
        path = self.path_for(name, checkpoint_hash, n, perplexity, seed) if checkpoint_hash else None
        hit = self._lookup(model, key, checkpoint_hash, path)
        if hit is not None:
            return hit
        with self._compute_lock:
            hit = self._lookup(model, key, checkpoint_hash, path)  # another request may have just made it
            if hit is not None:
                return hit
            data = split if split is not None else load_mnist(train=False)
            tmap = (call_niced(lambda: compute_map(model, name, data, n, perplexity, seed), nice=self.nice,
                               name="tsne-map") if self.nice > 0 else compute_map(model, name, data, n, perplexity,
                                                                                  seed))
            self.computed += 1
        self._remember(model, key, checkpoint_hash, tmap)
        if path is not None:
            try:
                _save(tmap, path)
                self._trim_disk(keep=path)
            except OSError:
                pass  # a read-only disk only costs the next visitor a recompute
        return tmap

    def _trim_disk(self, keep: Path) -> None:
        """Remove the least recently used map files until the cache fits max_disk_bytes."""
        files = []
        for p in self.cache_dir.glob("*.npz"):
            with contextlib.suppress(OSError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.max_disk_bytes:
                break
            if p != keep:
                with contextlib.suppress(OSError):
                    p.unlink()
                    total -= size


def _with_source(tmap: TsneMap, source: str) -> TsneMap:
    from dataclasses import replace

    return replace(tmap, source=source)


_hash_memo: dict[tuple[str, int, int], str] = {}


def checkpoint_fingerprint(path: Path) -> str:
    """Short content hash of a checkpoint file, memoised on (path, mtime, size) so it is read once."""
    from ..checkpoints import file_hash

    st = Path(path).stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _hash_memo:
        _hash_memo[key] = file_hash(Path(path))
    return _hash_memo[key]
