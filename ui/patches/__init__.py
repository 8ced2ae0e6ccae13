"""Every change this app makes to third-party internals (gradio, PIL, matplotlib), each logged when applied.

apply_all() makes the process-wide ones (build_demo calls it; idempotent); queue_budgets is per app.

Checked on gradio CHECKED_ON only: on any other version the gradio patches refuse (log a warning, return False)
and gradio is left as it is; the app still runs, without these savings and limits.

1. lazy_session_configs: a visitor's copy of the page config is built on demand, not up front.

gradio 6 builds, for every new session (each browser tab and each API client), the config of every component
of the page (`SessionState.config_values`, kept for deep links). For this app's ~300 components that is 40-50
ms of CPU holding the GIL on the visitor's first request, and 0.3-1 MB of memory per session: twenty visitors
arriving within a second queued behind each other for over a second. Here the dict is filled lazily: an
entry is built when gradio reads it (a value update, a deep link), never for components nobody touched.
Applied only when gradio's code has the expected shape; otherwise gradio is left as it is.

2. queue_budgets: each concurrency group gets its own queue budget and a per-client cap (gradio's max_size
counts every event of every endpoint together, so 64 queued trainings locked every visitor's /predict out).

3. limit_pil_pixels: PIL refuses to decode images over a pixel count (gradio hides PIL's bomb warning).

4. serialise_matplotlib: one lock around matplotlib's text and Agg rendering (gradio renders in many threads).

5. skip_component_stubs: gradio writes a `.pyi` stub next to the module of every component subclass it sees
defined (here: into the repository, at import time); ui/components.py's subclasses need none.
"""

from __future__ import annotations

from .libraries import limit_pil_pixels, serialise_matplotlib, skip_component_stubs
from .page_config import _PENDING, LazyConfigs, lazy_session_configs
from .queue import Budget, client_key, queue_budgets
from .version import CHECKED_ON, gradio_checked

__all__ = ["CHECKED_ON", "_PENDING", "Budget", "LazyConfigs", "apply_all", "client_key", "gradio_checked",
           "lazy_session_configs", "limit_pil_pixels", "queue_budgets", "serialise_matplotlib",
           "skip_component_stubs"]


def apply_all(max_pixels: int) -> None:
    """The process-wide patches (each logs once what it applied or why not); safe to call again."""
    lazy_session_configs()  # a new visitor's first request: 72 -> 37 ms of CPU
    limit_pil_pixels(max_pixels)
    serialise_matplotlib()
