"""A visitor's own state and the bounds on what one visitor may ask (tighter on a public server)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from .tempfiles import TempFiles

if TYPE_CHECKING:  # live_tsne pulls in openTSNE and scikit-learn (~2 s): imported when a run asks for a map
    pass

SESSION_PREFIX = "yours: "


@dataclass(frozen=True)
class Limits:
    """Bounds on what one visitor may ask of a training run (tighter in public mode)."""

    max_epochs: float = 30.0
    max_train_size: int = 60_000
    max_batch: int = 1024
    max_seconds: float = 3600.0
    max_models_per_session: int = 20  # a visitor's oldest trained model goes when one more joins
    max_visitor_models_mb: float = 2000.0  # all visitors' trained models together; the oldest go first
    max_temp_mb: float = 2000.0  # checkpoints and GIFs written for visitors, all together; the oldest go first
    cache_ttl_s: int = 3 * 3600  # gradio's copies of outputs and uploads are deleted after this many seconds


PUBLIC_LIMITS = Limits(max_epochs=2.0, max_train_size=20_000, max_batch=512, max_seconds=90.0,
                       max_models_per_session=4, max_visitor_models_mb=60.0, max_temp_mb=100.0, cache_ttl_s=900)


class VisitorSession:
    """One visitor's own state: the models they trained and the flag their Stop button sets.

    A plain class, not a dataclass: gradio serialises dataclass state values into the page config.
    """

    def __init__(self) -> None:
        self.models: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
        self.stop = threading.Event()
        self.training = False
        self.runs = 0
        self.folder: Path | None = None  # this visitor's checkpoints and GIFs (TempFiles), made on first use

    def close(self) -> None:
        """Stop any run, drop the models and delete the visitor's files (the session has ended)."""
        self.stop.set()
        self.models.clear()
        TempFiles.remove(self.folder)
        self.folder = None
