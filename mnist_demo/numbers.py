"""Loosely typed values from the page or a script (str, float, None, NaN) turned into checked numbers, one way."""

from __future__ import annotations

import math
from typing import Any


def as_number(value: Any, what: str, lo: float | None = None, hi: float | None = None) -> float:
    """A finite float within [lo, hi] (either bound optional); ValueError naming `what` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{what} must be from {_fmt(lo)} to {_fmt(hi)}, got {_fmt(v)}")
    return v


def as_whole(value: Any, what: str, lo: int | None = None, hi: int | None = None) -> int:
    """A whole number (3.0 is fine, 3.5 is not) within [lo, hi]; ValueError naming `what` otherwise."""
    v = as_number(value, what)
    if v != int(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        span = f" from {lo} to {hi}" if lo is not None and hi is not None else ""
        raise ValueError(f"{what} must be a whole number{span}, got {_fmt(v)}")
    return int(v)


def _fmt(x: float | None) -> str:
    if x is None:
        return "any value"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
