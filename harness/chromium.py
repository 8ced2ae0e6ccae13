"""Headless Chromium from the system (Debian's apt package; never a Playwright browser download)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# Software WebGL (SwiftShader) for the pad's canvas: there is no GPU. Each mouse move costs a frame; with these
# flags 20 moves took 4.2 s instead of 7.9 s with --disable-gpu on the busy 2-core box (one measurement).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--enable-unsafe-swiftshader",
                 "--use-angle=swiftshader"]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}  # a common phone width in CSS px
HOW_TO_ENABLE = ("browser tests need Debian's Chromium and the playwright package: "
                 "`apt-get install chromium` and `pip install playwright` (never `playwright install`)")


def chromium_path() -> str | None:
    """The Chromium binary to drive: Debian's /usr/bin/chromium, or one on PATH."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable_reason() -> str | None:
    """Why browser tests cannot run here (with how to enable them), or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"playwright is not installed; {HOW_TO_ENABLE}"
    if chromium_path() is None:
        return f"Chromium not found at {CHROMIUM}; {HOW_TO_ENABLE}"
    return None


def launch_browser(playwright: Any) -> Any:
    """Headless Chromium from the system (no Playwright browser download)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
