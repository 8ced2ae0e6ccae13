"""Driving the app in headless Chromium (Playwright): draw digits with the mouse, switch tabs, run each tab.

Shared by tests/test_browser.py and benchmarks/screenshots.py. Every wait is on a condition in the page
(an event sent and answered, a text, an image), never a fixed sleep.

How "the app has answered" is known: every action triggers a known set of queued events (read from the
page's own `gradio_config`: the click's handlers plus their `.then()` chain). The helper counts the
queue joins the page sends and waits until that many were sent and no upload, join or result stream is
still in flight. A plain "network quiet for N ms" was not enough: on a busy 2-core box the gap between
an event and its `.then()` was 0.7 s, and a Clear pressed in that gap was overwritten by the old answer.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from . import page_js
from .chromium import DESKTOP, MOBILE, launch_browser, unavailable_reason
from .strokes import CANVAS_PX, DIGIT_STROKES

__all__ = ["DESKTOP", "MOBILE", "AppError", "AppPage", "launch_browser", "unavailable_reason"]

# Generous: the CI box has 2 shared cores and a tab's first call may load MNIST or warm up torch.
TIMEOUT_S = 120.0
QUIET_S = 0.2  # after the last expected answer: lets the page apply it


class AppError(AssertionError):
    """The app showed an error message (a gr.Error toast) while the test waited for an answer."""


# ---------- one visitor's page ----------

class AppPage:
    """One visitor's browser tab on the app: tabs, the pad, predictions, and waiting for the app's answers."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.drawn: str | None = None  # the digit now on the pad (tab checks use it)
        self.pad_broken: str | None = None  # why the pad stopped taking strokes (later draws fail at once)
        self.joins = 0  # queued events the page has sent so far
        self._inflight: set[Any] = set()
        self._last_activity = time.monotonic()
        self._events: dict[tuple[str, str], int] = {}
        page.set_default_timeout(TIMEOUT_S * 1000)
        for event, fn in (("request", self._started), ("requestfinished", self._ended),
                          ("requestfailed", self._ended)):
            page.on(event, fn)

    # Uploads, queue joins, result streams and unqueued calls; the heartbeat stream lasts the whole visit.
    def _started(self, req: Any) -> None:
        if "/gradio_api/" in req.url and "heartbeat" not in req.url:
            self.joins += "/gradio_api/queue/join" in req.url
            self._inflight.add(req)
            self._last_activity = time.monotonic()

    def _ended(self, req: Any) -> None:
        if req in self._inflight:
            self._inflight.discard(req)
            self._last_activity = time.monotonic()

    def goto(self, url: str) -> AppPage:
        """Open the app and wait until the pad can be drawn on.

        The pad loads its white background asynchronously, then sends an .input event; a stroke drawn
        before that was wiped by the background on a busy CPU, so wait for that event's answer."""
        self.page.goto(url, wait_until="load")
        self.page.locator("#pad canvas").first.wait_for(state="visible")
        self.page.locator("#pad .zoom-number").first.wait_for(state="visible")
        self.wait_for_events(self.events_of("pad", "input"))
        return self

    # ---------- waiting for the app ----------
    def events_of(self, elem_id: str, event: str = "click") -> int:
        """How many queued events `event` on the component `elem_id` starts (from the page's config)."""
        key = (elem_id, event)
        if key not in self._events:
            self._events[key] = int(self.page.evaluate(page_js.EVENTS_JS, [elem_id, event]))
        return self._events[key]

    def error_text(self) -> str | None:
        """The message of a visible error toast (a gr.Error), if any."""
        texts = self.page.locator("[data-testid=toast-body].error [data-testid=toast-text]")
        return " / ".join(texts.all_inner_texts()) if texts.count() else None

    def wait_for_events(self, target: int, timeout_s: float = TIMEOUT_S) -> None:
        """Wait until the page has sent `target` queue joins in all and nothing is in flight any more."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.page.wait_for_timeout(50)  # lets Playwright deliver the request events
            err = self.error_text()
            if err:
                raise AppError(f"the app showed an error: {err}")
            now = time.monotonic()
            if self.joins >= target and not self._inflight and now - self._last_activity >= QUIET_S:
                return
            if now > deadline:
                urls = sorted(r.url.split("/gradio_api/")[-1][:60] for r in self._inflight)
                raise TimeoutError(f"no answer from the app within {timeout_s:.0f} s: sent {self.joins} of "
                                   f"{target} events; still in flight: {urls}")

    def act(self, selector: str, event: str = "click") -> None:
        """Click a button (by CSS selector, '#elem-id') and wait until all the events it starts are answered."""
        elem_id = selector.lstrip("#")
        target = self.joins + self.events_of(elem_id, event)
        self.page.locator(selector).first.click()
        self.wait_for_events(target)

    # ---------- tabs ----------
    def tab_tree(self) -> list[tuple[str, str | None]]:
        """(tab label, label of the section holding it or None) for every tab a visitor uses, in order."""
        return [(name, section) for name, section in self.page.evaluate(page_js.TAB_TREE_JS)]

    def tab_names(self) -> list[str]:
        """The labels of every tab (not the sections), in order, whether or not its section is open."""
        return [name for name, _ in self.tab_tree()]

    def section_names(self) -> list[str]:
        """The labels of the top-level sections, in order."""
        return list(dict.fromkeys(s for _, s in self.tab_tree() if s))

    def open_tab(self, name: str) -> None:
        """Click a tab by its label, opening its section first (through the 'More tabs' menu when folded away)."""
        section = dict(self.tab_tree()).get(name)
        if section is not None and not self.page.get_by_role("tab", name=name, exact=True).first.is_visible():
            self._click_tab(section)
        self._click_tab(name)
        self.wait_idle()

    def _click_tab(self, name: str) -> None:
        tab = self.page.get_by_role("tab", name=name, exact=True)
        if tab.count() == 0 or not tab.first.is_visible():  # folded into a tab bar's "More tabs" menu
            item = self.page.locator(".overflow-dropdown button").filter(has_text=re.compile(f"^{re.escape(name)}$"))
            for menu in self.page.get_by_role("button", name="More tabs").all():
                if not menu.is_visible():
                    continue
                menu.click()
                if item.first.is_visible():
                    item.first.click()
                    break
                menu.click()  # not this bar's menu: close it again
        else:
            tab.first.click()
        sel = self.page.locator("[role=tab][aria-selected=true]").filter(has_text=re.compile(f"^{re.escape(name)}$"))
        from playwright.sync_api import expect  # the chosen tab is shown selected, even when picked from the menu

        expect(sel.first).to_be_visible(timeout=TIMEOUT_S * 1000)

    def wait_idle(self) -> None:
        """Wait until nothing the page sent is in flight (tab switches may fetch components)."""
        self.wait_for_events(self.joins)

    # ---------- drawing ----------
    def drawing_area(self) -> tuple[float, float, float]:
        """(left, top, side) of the pad's white drawing area in page px: centred in the canvas at the zoom
        the pad's toolbar shows (the canvas element itself is wider than the area)."""
        canvas = self.page.locator("#pad canvas").first
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        zoom_text = self.page.locator("#pad .zoom-number").first.inner_text()
        m = re.search(r"(\d+(?:\.\d+)?)\s*%", zoom_text)
        if box is None or m is None:
            raise AssertionError(f"the pad is not on screen (canvas box {box}, zoom {zoom_text!r})")
        side = CANVAS_PX * float(m.group(1)) / 100
        return box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2, side

    def draw(self, digit: str) -> None:
        """Draw one of DIGIT_STROKES with the mouse in one stroke and wait for the app's answer to it."""
        self.draw_strokes([DIGIT_STROKES[digit]], digit)

    def draw_strokes(self, strokes: list[list[tuple[float, float]]], digit: str) -> None:
        """Draw `digit` as mouse strokes ((x, y) in 0..1 of the drawing area), waiting for the app's answer to
        each stroke before the next, as a person lifts the pen.

        The pad joins successive pointer positions with straight lines, so a few points are enough (each
        move costs a frame of software WebGL). The pad sends its new value only after the stroke is
        exported; a Predict clicked straight after mouse-up sent the previous drawing, hence the wait."""
        if self.pad_broken:
            raise AssertionError(f"the pad broke earlier on this page: {self.pad_broken}")
        left, top, side = self.drawing_area()
        self.expect_pad_uncovered(left + side / 2, top + side / 2)
        mouse = self.page.mouse
        for stroke in strokes:
            target = self.joins + self.events_of("pad", "input")
            mouse.move(left + stroke[0][0] * side, top + stroke[0][1] * side)
            mouse.down()
            for x, y in stroke[1:]:
                mouse.move(left + x * side, top + y * side)
            mouse.up()
            try:
                self.wait_for_events(target)
            except TimeoutError as exc:
                self.pad_broken = (f"the pad sent no drawing after a stroke ({exc}); what is at its centre now: "
                                   f"{self._element_at(left + side / 2, top + side / 2)}")
                raise AssertionError(self.pad_broken) from None
        self.drawn = digit

    def _element_at(self, x: float, y: float) -> str:
        return str(self.page.evaluate(page_js.ELEMENT_AT_JS, [x, y]))

    def expect_pad_uncovered(self, x: float, y: float, timeout_s: float = 30.0) -> None:
        """Wait until the pad's canvas (not a loading overlay) is what a click at (x, y) reaches."""
        try:
            self.page.wait_for_function(page_js.PAD_FREE_JS, arg=[x, y], timeout=timeout_s * 1000)
        except Exception as exc:
            if "Timeout" not in type(exc).__name__:
                raise
            self.pad_broken = (f"the pad stayed covered for {timeout_s:.0f} s, strokes cannot reach it; on top: "
                               f"{self._element_at(x, y)}")
            raise AssertionError(self.pad_broken) from None

    def clear(self) -> None:
        """Press Clear; wait until the pad is blank again and ready for the next stroke."""
        # The cleared pad reloads its background, then sends an .input event: only then can it be drawn on.
        target = self.joins + self.events_of("clear") + self.events_of("pad", "input")
        self.page.click("#clear")
        self.wait_for_events(target)
        self.expect_text("#label", "draw a digit")
        self.drawn = None

    def predict(self) -> str:
        """Press Predict; return the top label once the app has answered for the current drawing."""
        self.act("#predict")
        return self.top_label()

    def top_label(self, selector: str = "#label") -> str:
        """The big top-1 text of a gr.Label."""
        top = self.page.locator(f"{selector} [data-testid=label-output-value]")
        top.wait_for(state="visible")
        return top.inner_text().strip()

    # ---------- small waits and reads ----------
    def expect_text(self, selector: str, pattern: str | re.Pattern, timeout_s: float = TIMEOUT_S) -> None:
        """Wait until the element's text matches (a str matches as a case-insensitive substring)."""
        from playwright.sync_api import expect

        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern), re.I)
        expect(self.page.locator(selector).first).to_contain_text(rx, timeout=timeout_s * 1000)

    def text(self, selector: str) -> str:
        """The visible text of the first element matching selector."""
        return self.page.locator(selector).first.inner_text()

    def expect_image(self, selector: str, timeout_s: float = TIMEOUT_S) -> None:
        """Wait until a gr.Plot / gr.Image / gr.Gallery under `selector` shows a loaded image."""
        self.page.wait_for_function(
            """sel => [...document.querySelectorAll(sel + ' img')].some(im => im.complete && im.naturalWidth > 0)""",
            arg=selector, timeout=timeout_s * 1000)

    def watch_lines(self, selector: str) -> None:
        """Start recording every distinct drawing of the gr.LinePlot under `selector` (see line_counts)."""
        self.page.evaluate(page_js.WATCH_LINES_JS, selector)

    def line_counts(self, selector: str) -> list[int]:
        """Points drawn in each distinct drawing of a watched gr.LinePlot, in order."""
        return [int(n) for n in self.page.evaluate(page_js.LINE_COUNTS_JS, selector)]

    def line_log(self, selector: str) -> dict | None:
        """{'at': ms after watch_lines of each distinct drawing, 'svgs': charts created} for a watched plot."""
        return self.page.evaluate(page_js.LINE_LOG_JS, selector)

    def wait_for_line_growth(self, selector: str, timeout_s: float = TIMEOUT_S, skip: int = 0) -> None:
        """Wait until a watched gr.LinePlot has been drawn with more points than its first non-empty drawing
        (after the first `skip` drawings: e.g. the recorded run the Train tab shows before a visitor's own)."""
        self.page.wait_for_function(
            f"""() => {{ const c = ({page_js.LINE_COUNTS_JS})({json.dumps(selector)})
                                   .slice({int(skip)}).filter(n => n > 0);
                        return c.length > 1 && c[c.length - 1] > c[0]; }}""", timeout=timeout_s * 1000)

    def table_rows(self, selector: str, at_least: int = 1, timeout_s: float = 10) -> int:
        """Data rows of a gr.Dataframe (its grid's aria-rowcount less the header row), waiting up to `timeout_s`
        for at least `at_least`: the grid is re-rendered a moment after the answer arrives (CI once read it
        between the two, on the busy 2-core box), so a single read right after the event could see the old one."""
        grid = self.page.locator(f"{selector} [role=grid]").first
        grid.wait_for(state="attached")
        try:
            self.page.wait_for_function(
                """([sel, n]) => { const g = document.querySelector(sel + ' [role=grid]');
                                    return g && Number(g.getAttribute('aria-rowcount') || 1) - 1 >= n; }""",
                arg=[selector, at_least], timeout=timeout_s * 1000)
        except Exception:
            pass
        return int(grid.get_attribute("aria-rowcount") or 1) - 1

    def set_number(self, selector: str, value: float) -> None:
        """Type a value into a gr.Number / gr.Slider's number box and commit it (Enter, then leave the box)."""
        box = self.page.locator(f"{selector} input[type=number]").first
        box.fill(str(value))
        box.press("Enter")
        box.blur()
        self.wait_idle()
