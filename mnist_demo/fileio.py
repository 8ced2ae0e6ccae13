"""Atomic file writes (a reader, or a crash, never sees half a file), GIF animations included."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np


def atomic_write(path: Path | str, write: Callable[[IO[Any]], None], text: bool = False,
                 public: bool = True) -> Path:
    """Write `path` via write(fh) into a unique temp file beside it, fsync, then os.replace; no temp file is left.

    `public` makes the file world-readable (mkstemp creates it private): checkpoints and results are served.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w" if text else "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if public:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_gif(frames: Sequence[np.ndarray], path: Path | str, frame_ms: int, last_ms: int, colors: int = 64) -> Path:
    """Save (H, W, 3) uint8 frames as a looping GIF (atomically); the last frame stays up for `last_ms`.

    One palette, taken from the first frame, for all of them: the file stays small and colours do not flicker
    from frame to frame (every animation here draws the same few colours throughout)."""
    from PIL import Image

    if not frames:
        raise ValueError("there are no frames to write yet")
    first = Image.fromarray(np.asarray(frames[0], np.uint8)).quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    images = [first] + [Image.fromarray(np.asarray(f, np.uint8)).quantize(palette=first, dither=Image.Dither.NONE)
                        for f in frames[1:]]
    durations = [int(frame_ms)] * (len(images) - 1) + [max(int(frame_ms), int(last_ms))]
    return atomic_write(path, lambda fh: images[0].save(fh, format="GIF", save_all=True, append_images=images[1:],
                                                        duration=durations, loop=0, optimize=False))
