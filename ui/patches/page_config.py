"""gradio: a visitor's copy of the page config is built on demand, not up front (see ui/patches/__init__)."""

from __future__ import annotations

import threading
from typing import Any

from .version import gradio_checked, log

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

    # dict(x), {**x}, x | y and json read a dict subclass's storage directly unless __iter__ is overridden:
    # with it they go through keys() and __getitem__, which builds pending entries.
    def __iter__(self) -> Any:
        return super().__iter__()

    def pop(self, key: int, *default: Any) -> Any:
        if key in self:
            value = self[key]
            super().pop(key)
            return value
        return super().pop(key, *default)

    def popitem(self) -> tuple[int, Any]:
        key, value = super().popitem()
        return key, (self._build(key) if value is _PENDING else value)

    def setdefault(self, key: int, default: Any = None) -> Any:
        if key in self:
            return self[key]
        super().__setitem__(key, default)
        return default

    def __or__(self, other: Any) -> dict:
        return {**self, **other}

    def __eq__(self, other: object) -> bool:
        self._resolve_all()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # as dict

    def __repr__(self) -> str:
        self._resolve_all()
        return super().__repr__()


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
    if not gradio_checked("lazy session configs"):
        return False
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
    log.info("gradio patched: a session's page config is built on demand (ui/patches)")
    return True
