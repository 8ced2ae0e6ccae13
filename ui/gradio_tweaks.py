"""One change to gradio's internals: a visitor's copy of the page config is built on demand, not up front.

gradio 6 builds, for every new session (each browser tab and each API client), the config of every component
of the page (`SessionState.config_values`, kept for deep links). For this app's ~300 components that is 40-50
ms of CPU holding the GIL on the visitor's first request, and 0.3-1 MB of memory per session: twenty visitors
arriving within a second queued behind each other for over a second. Here the dict is filled lazily: an
entry is built when gradio reads it (a value update, a deep link), never for components nobody touched.
Applied only when gradio's code has the expected shape; otherwise gradio is left as it is.
"""

from __future__ import annotations

import threading
from typing import Any

_PENDING = object()  # stands for "not built yet" in a session's config dict
_building = threading.local()


class LazyConfigs(dict):
    """A session's {block id: config}; entries stored as _PENDING are built by `build(id)` when first read."""

    def __init__(self, pending: list[int], build: Any) -> None:
        super().__init__(dict.fromkeys(pending, _PENDING))
        self._build = build

    def __getitem__(self, key: int) -> Any:
        value = super().__getitem__(key)
        if value is _PENDING:
            value = self._build(key)
            super().__setitem__(key, value)
        return value

    def get(self, key: int, default: Any = None) -> Any:
        return self.__getitem__(key) if key in self else default

    def _resolve_all(self) -> None:
        for key in [k for k, v in super().items() if v is _PENDING]:
            self.__getitem__(key)  # builds and stores it

    def values(self) -> Any:
        self._resolve_all()
        return super().values()

    def items(self) -> Any:
        self._resolve_all()
        return super().items()

    def copy(self) -> dict:
        self._resolve_all()
        return dict(super().items())


def lazy_session_configs() -> bool:
    """Make gradio's SessionState build its config copies on demand; True when applied (idempotent)."""
    try:
        from gradio import state_holder
        from gradio.blocks import BlocksConfig
    except ImportError:
        return False
    cls = state_holder.SessionState
    if getattr(cls, "_lazy_configs", False):
        return True
    original_init = cls.__init__
    original_build = BlocksConfig.config_for_block
    if not isinstance(BlocksConfig.__dict__.get("config_for_block"), staticmethod):
        return False

    def config_for_block(*args: Any, **kwargs: Any) -> Any:
        if getattr(_building, "session", False):
            return _PENDING
        return original_build(*args, **kwargs)

    def __init__(self: Any, blocks: Any) -> None:
        _building.session = True
        try:
            original_init(self, blocks)
        finally:
            _building.session = False
        values = getattr(self, "config_values", None)
        config = getattr(self, "blocks_config", None)
        if not isinstance(values, dict) or config is None:
            return
        pending = [k for k, v in values.items() if v is _PENDING]

        def build(key: int) -> Any:
            return original_build(key, [], config.blocks[key])

        lazy = LazyConfigs(pending, build)
        for k, v in values.items():  # anything the original already built for real stays as it is
            if v is not _PENDING:
                dict.__setitem__(lazy, k, v)
        self.config_values = lazy

    BlocksConfig.config_for_block = staticmethod(config_for_block)
    cls.__init__ = __init__
    cls._lazy_configs = True
    return True
