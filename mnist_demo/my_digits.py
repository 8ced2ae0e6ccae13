"""One visitor's own labelled drawings ("my digits"): bounded, in memory only, exported and imported as .npz.

The set lives in the visitor's session and nowhere else: nothing here writes a file except `write_npz`, which
the app calls only when the visitor asks for a download (into their own temporary folder, deleted with the
session). Imports are validated strictly before anything is added: `np.load(allow_pickle=False)`, a size cap
on the file and on every array inside it (read from the zip directory before any array is decoded), exact
shapes and dtypes, labels 0-9.
"""

from __future__ import annotations

import io
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CAPACITY = 300  # drawings one visitor may keep
RAW_SIDE = 56  # the raw stroke picture, downscaled (the 280 px pad / 5), white ink on black
MAX_IMPORT_BYTES = 3_000_000  # a full set is ~1.2 MB uncompressed (300 × (28² + 56²) + labels)
NPZ_KEYS = ("images", "labels")  # MNIST format: images (N, 28, 28) uint8 white on black, labels (N,) 0-9
OPTIONAL_KEYS = ("raw",)  # (N, 56, 56) uint8: the drawing as drawn, downscaled


class DigitsImportError(ValueError):
    """An imported file is not a valid set of digits; the message says what is wrong."""


class DigitsFullError(ValueError):
    """The set already holds CAPACITY drawings."""


@dataclass(frozen=True)
class MyDigit:
    """One saved drawing: a stable id, the 28×28 the models see (uint8), its label and the raw strokes."""

    id: int
    image: np.ndarray  # (28, 28) uint8, white ink on black
    label: int
    raw: np.ndarray | None = None  # (RAW_SIDE, RAW_SIDE) uint8


def to_uint8_28(image: np.ndarray) -> np.ndarray:
    """A (28, 28) model input (float in [0, 1] or uint8) as uint8."""
    a = np.asarray(image)
    if a.shape != (28, 28):
        raise ValueError(f"a digit is a 28×28 image, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.copy()
    return np.round(np.clip(np.nan_to_num(a.astype(np.float32)), 0, 1) * 255).astype(np.uint8)


def raw_thumbnail(ink: np.ndarray) -> np.ndarray:
    """An ink map (H, W) in [0, 1] (preprocess's steps['raw']) as a RAW_SIDE² uint8 picture, white on black."""
    a = (np.clip(np.asarray(ink, np.float32), 0, 1) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(a).resize((RAW_SIDE, RAW_SIDE), Image.BOX), np.uint8)


class MyDigits:
    """A visitor's labelled drawings, oldest first, at most `capacity`; ids are never reused within the set."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._items: list[MyDigit] = []
        self._next = 1
        self._lock = threading.Lock()  # the Draw tab and the Teach tab may both write at once

    def __len__(self) -> int:
        return len(self._items)

    def add(self, image: np.ndarray, label: int, raw: np.ndarray | None = None) -> MyDigit:
        """Save one drawing; DigitsFullError at capacity, ValueError for a bad label or image."""
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= int(label) <= 9:
            raise ValueError(f"a label is a digit 0-9, got {label!r}")
        img = to_uint8_28(image)
        if raw is not None and np.asarray(raw).shape != (RAW_SIDE, RAW_SIDE):
            raise ValueError(f"raw strokes are {RAW_SIDE}×{RAW_SIDE}, got {np.asarray(raw).shape}")
        with self._lock:
            if len(self._items) >= self.capacity:
                raise DigitsFullError(f"your set is full ({self.capacity} drawings): remove some first")
            item = MyDigit(self._next, img, int(label), None if raw is None else np.asarray(raw, np.uint8).copy())
            self._next += 1
            self._items.append(item)
            return item

    def remove(self, digit_id: int) -> bool:
        """Remove the drawing with this id; False when there is none."""
        with self._lock:
            for k, item in enumerate(self._items):
                if item.id == int(digit_id):
                    del self._items[k]
                    return True
        return False

    def clear(self) -> None:
        """Remove every drawing."""
        with self._lock:
            self._items.clear()

    def items(self) -> list[MyDigit]:
        """A snapshot of the drawings, oldest first."""
        with self._lock:
            return list(self._items)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images (N, 28, 28) uint8, labels (N,) int64, ids (N,) int64) of a snapshot."""
        items = self.items()
        images = np.stack([d.image for d in items]) if items else np.zeros((0, 28, 28), np.uint8)
        return images, np.array([d.label for d in items], np.int64), np.array([d.id for d in items], np.int64)

    def counts(self) -> list[int]:
        """How many drawings of each digit 0-9."""
        return np.bincount([d.label for d in self.items()], minlength=10).tolist()

    def npz_bytes(self) -> bytes:
        """The set in MNIST format: images (N, 28, 28) uint8, labels (N,) uint8, raw (N, 56, 56) uint8."""
        items = self.items()
        images, labels, _ = self.arrays()
        raw = np.stack([d.raw if d.raw is not None else np.zeros((RAW_SIDE, RAW_SIDE), np.uint8) for d in items]) \
            if items else np.zeros((0, RAW_SIDE, RAW_SIDE), np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, images=images, labels=labels.astype(np.uint8), raw=raw)
        return buf.getvalue()

    def write_npz(self, path: Path) -> Path:
        """Write npz_bytes() to `path` (a download the visitor asked for)."""
        Path(path).write_bytes(self.npz_bytes())
        return Path(path)

    def import_npz(self, source: str | Path | bytes) -> int:
        """Add every drawing of a validated .npz file (all or nothing); the number added."""
        images, labels, raw = read_npz(source)
        with self._lock:
            room = self.capacity - len(self._items)
        if len(labels) > room:
            raise DigitsImportError(f"the file holds {len(labels)} drawings but your set has room for {room} "
                                    f"(at most {self.capacity}): remove some first")
        for k in range(len(labels)):
            self.add(images[k], int(labels[k]), None if raw is None else raw[k])
        return len(labels)


def read_npz(source: str | Path | bytes, max_bytes: int = MAX_IMPORT_BYTES,
             max_items: int = CAPACITY) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(images (N, 28, 28) uint8, labels (N,) int64, raw or None) from an .npz; DigitsImportError otherwise."""
    data = source if isinstance(source, bytes) else None
    if data is None:
        try:
            size = Path(source).stat().st_size
        except OSError:
            raise DigitsImportError("that file could not be read") from None
        if size > max_bytes:
            raise DigitsImportError(f"that file is {size:,} bytes; a set of {max_items} digits is under "
                                    f"{max_bytes:,}")
        data = Path(source).read_bytes()
    if len(data) > max_bytes:
        raise DigitsImportError(f"that file is {len(data):,} bytes; a set of {max_items} digits is under {max_bytes:,}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except zipfile.BadZipFile:
        raise DigitsImportError("not an .npz file (expected a NumPy .npz archive with 'images' and 'labels')") from None
    names = {m.filename.removesuffix(".npy") for m in members}
    if not set(NPZ_KEYS) <= names or not names <= set(NPZ_KEYS) | set(OPTIONAL_KEYS):
        raise DigitsImportError(f"expected arrays {', '.join(NPZ_KEYS)} (and optionally raw), found "
                                f"{', '.join(sorted(names))[:200] or 'none'}")
    if sum(m.file_size for m in members) > 4 * max_bytes:  # a small file that inflates: refused before reading
        raise DigitsImportError("the arrays inside that file are far too large for a set of digits")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in names}
    except ValueError as exc:  # object arrays (pickles) are refused by allow_pickle=False
        raise DigitsImportError(f"that file could not be read safely ({str(exc)[:120]})") from None
    except (OSError, EOFError, zipfile.BadZipFile):
        raise DigitsImportError("that .npz file is damaged") from None
    images, labels, raw = arrays["images"], arrays["labels"], arrays.get("raw")
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DigitsImportError(f"images must be uint8 of shape (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise DigitsImportError(f"labels must be whole numbers of shape ({images.shape[0]},), got "
                                f"{labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DigitsImportError(f"labels must be digits 0-9, found {int(labels.min())} to {int(labels.max())}")
    if not 1 <= images.shape[0] <= max_items:
        raise DigitsImportError(f"a set holds 1 to {max_items} drawings, this file {images.shape[0]}")
    if raw is not None and (raw.dtype != np.uint8 or raw.shape != (images.shape[0], RAW_SIDE, RAW_SIDE)):
        raise DigitsImportError(f"raw must be uint8 of shape ({images.shape[0]}, {RAW_SIDE}, {RAW_SIDE}), "
                                f"got {raw.dtype} {raw.shape}")
    return images, labels.astype(np.int64), raw
