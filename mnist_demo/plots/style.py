"""The one figure factory every plot module uses: matplotlib's Agg backend, constrained layout, 100 dpi.

Figures are made with `matplotlib.figure.Figure` directly, never through pyplot, so no global figure
manager is involved and figures can be built from any thread. Plain matplotlib only: no model code.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure


def new_figure(w: float, h: float, dpi: int = 100) -> Figure:
    """An empty w × h inch figure with constrained layout."""
    return Figure(figsize=(w, h), layout="constrained", dpi=dpi)
