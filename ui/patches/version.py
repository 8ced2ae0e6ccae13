"""Which gradio the patches were checked on; every gradio patch asks before it applies."""

from __future__ import annotations

import logging

log = logging.getLogger("ui.patches")
CHECKED_ON = "6.31.0"  # the gradio version these patches were read against and tested on


def gradio_checked(patch: str) -> bool:
    """True on the gradio version the patches were checked on; otherwise log why `patch` is not applied."""
    import gradio

    if gradio.__version__ == CHECKED_ON:
        return True
    log.warning("%s not applied: checked on gradio %s, this is %s", patch, CHECKED_ON, gradio.__version__)
    return False
