"""Files the app writes for visitors (checkpoints, GIFs): one folder per visitor under one root, bounded in bytes.

A visitor's folder is removed when their session ends; across all visitors the oldest files go first once the
total passes `max_bytes`, so a script that trains in a loop from fresh sessions cannot fill the disk.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from pathlib import Path


class TempFiles:
    """Per-visitor folders under `root`; `add(path)` after writing a file keeps the total under `max_bytes`."""

    def __init__(self, root: Path | str | None = None, max_bytes: int = 500_000_000) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.gettempdir()) / "mnist_demo"
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()

    def folder(self) -> Path:
        """A new, empty folder for one visitor (or one run)."""
        path = self.root / uuid.uuid4().hex[:16]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def files(self) -> list[Path]:
        """Every file under the root, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for p in self.root.rglob("*"):
            try:
                if p.is_file():
                    found.append((p.stat().st_mtime, p))
            except OSError:  # removed meanwhile
                continue
        return [p for _, p in sorted(found)]

    def used_bytes(self) -> int:
        """Bytes held under the root now."""
        total = 0
        for p in self.files():
            try:
                total += p.stat().st_size
            except OSError:
                continue
        return total

    def enforce(self, keep: Path | None = None) -> int:
        """Remove the oldest files until the total fits `max_bytes` (never `keep`); the number removed."""
        with self._lock:
            files = self.files()
            sizes = {}
            for p in files:
                try:
                    sizes[p] = p.stat().st_size
                except OSError:
                    continue
            total, removed = sum(sizes.values()), 0
            for p, size in sizes.items():
                if total <= self.max_bytes:
                    break
                if keep is not None and p == keep:
                    continue
                try:
                    p.unlink()
                    total -= size
                    removed += 1
                except OSError:
                    continue
                if p.parent != self.root:
                    try:
                        p.parent.rmdir()  # only when that was its last file
                    except OSError:
                        pass
            return removed

    @staticmethod
    def remove(folder: Path | None) -> None:
        """Delete one visitor's folder and everything in it (their session ended)."""
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
