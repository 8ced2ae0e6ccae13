"""What a visitor does first on each tab, and what each tab shows when opened (#18): one check per tab,
used by tests/test_browser.py and benchmarks/screenshots.py / cold_start.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .browser import TIMEOUT_S, AppPage

# ---------- per-tab checks ----------
# One small function per tab: what a visitor does first there, waiting for a visible result and asserting it.
# tests/test_browser.py runs each (then goes back to Draw and draws again); benchmarks/screenshots.py runs
# each before taking the tab's picture. A new tab needs one @tab_check function here.

@dataclass(frozen=True)
class TabCheck:
    """How to exercise one tab; `mnist` = needs the MNIST files; `slug` names its screenshot."""

    tab: str
    slug: str
    run: Callable[[AppPage], None]
    mnist: bool = False


TAB_CHECKS: dict[str, TabCheck] = {}


def tab_check(tab: str, slug: str, mnist: bool = False) -> Callable:
    """Register `fn(app)` as the check (and screenshot set-up) of the tab labelled `tab`."""

    def register(fn: Callable[[AppPage], None]) -> Callable[[AppPage], None]:
        TAB_CHECKS[tab] = TabCheck(tab, slug, fn, mnist)
        return fn

    return register


def _digit_in(text: str) -> str | None:
    m = re.search(r"reads (?:an? )?\**(\d)\b", text)
    return m.group(1) if m else None


@tab_check("Draw", "draw")
def check_draw(app: AppPage) -> None:
    """The drawing on the pad is read; the side-by-side table lists every model."""
    if app.drawn is None:
        app.draw("7")
    assert app.predict() == app.drawn
    app.expect_text("#draw-message", re.compile(rf"reads a {app.drawn}\b"))
    app.expect_image("#seen")
    assert (n := app.table_rows("#table", 2)) >= 2, f"{n} rows"


@tab_check("Model's eye", "models_eye")
def check_eye(app: AppPage) -> None:
    """The preprocessing steps of the drawing, and the robustness probes."""
    app.act("#eye-show")
    app.expect_image("#eye-steps")
    assert _digit_in(app.text("#eye-message")) == app.drawn, app.text("#eye-message")
    app.act("#eye-probe")
    assert (n := app.table_rows("#eye-table", 2)) >= 2, f"{n} rows: {app.text('#eye-table')[:200]!r}"


@tab_check("Why this digit?", "explain")
def check_explain(app: AppPage) -> None:
    """Saliency and occlusion maps for the drawing, then the activations."""
    app.act("#explain-run")
    assert _digit_in(app.text("#explain-status")) == app.drawn, app.text("#explain-status")
    for sel in ("#explain-top", "#explain-runner-up", "#explain-acts"):
        app.expect_image(sel)


@tab_check("Trust", "trust")
def check_trust(app: AppPage) -> None:
    """The reliability diagram is there; "Fool it" attacks the drawing: the perturbed image, the smallest ε and
    every model's answer on it."""
    app.expect_image("#trust-reliability")
    app.act("#trust-run")
    app.expect_text("#trust-status", re.compile(r"smallest ε|No ε up to"))
    app.expect_image("#trust-attack")
    assert (n := app.table_rows("#trust-transfer", 2)) >= 2, f"{n} rows"


@tab_check("Train", "train", mnist=True)
def check_train(app: AppPage, epochs: float = 1, train_size: int = 3_000, stop: bool = False) -> None:
    """A short run: the loss curve grows while it trains; then either Stop (the partial model is still scored)
    or the end of the run, with its per-digit accuracy and confusion matrix."""
    app.set_number("#epochs", epochs)
    app.set_number("#train-size", train_size)
    app.watch_lines("#loss-plot")
    shown = len(app.line_counts("#loss-plot"))  # the recorded run on show before the first Start (1), else 0
    app.page.click("#train-start")
    app.wait_for_line_growth("#loss-plot", skip=shown)
    if stop:
        app.page.click("#train-stop")
        app.expect_text("#train-status", "Done (stopped early)")
    else:
        app.expect_text("#train-status", re.compile(r"Done: \w+ reached \d+\.\d+%"))
        app.expect_image("#train-tsne")  # the live map (drawn every 50 steps)
    app.wait_idle()


@tab_check("Teach it", "teach")
def check_teach(app: AppPage) -> None:
    """The Draw tab's "Wrong? It's a:" row saves the drawing with its label; the Teach it tab lists it."""
    app.open_tab("Draw")
    app.act(f"#wrong-{app.drawn}")
    app.expect_text("#wrong-note", f"Saved as a {app.drawn}")
    app.open_tab("Teach it")  # selecting the tab refreshes the visitor's set
    app.expect_text("#teach-summary", re.compile(r"\d+ of 300"))
    app.expect_text("#teach-summary", f"{app.drawn}: 1")
    app.expect_image("#teach-gallery")
    # One saved digit is a thumbnail, not a cropped close-up filling the gallery (gradio's min(columns, images)).
    thumb = app.page.locator("#teach-gallery img").first.bounding_box()
    whole = app.page.locator("#teach-gallery").first.bounding_box()
    assert thumb and whole and thumb["width"] < whole["width"] / 3, f"thumbnail {thumb} in gallery {whole}"


@tab_check("Evaluate", "evaluate", mnist=True)
def check_evaluate(app: AppPage) -> None:
    """Score the default model on the test set: accuracy, mistakes gallery."""
    app.act("#eval-run")
    app.expect_text("#eval-summary", re.compile(r"\d+\.\d+% on the 10,000 test images"))
    app.expect_image("#mistakes")


@tab_check("LSTM reader", "lstm_reader")
def check_lstm(app: AppPage) -> None:
    """The LSTM reads the drawing row by row and answers after the last row."""
    app.act("#lstm-read-pad")
    app.expect_image("#lstm-image")
    app.expect_image("#lstm-heat")
    assert app.top_label("#lstm-label") == app.drawn


@tab_check("sin → cos RNN", "sin_cos")
def check_sincos(app: AppPage, steps: int | None = None) -> None:
    """The animation: the fitted curve changes frame by frame, then the run ends with its extrapolation and GIF.
    `steps` sets the Steps slider first (default: the tutorial's 100, paced at 20 updates a second)."""
    if steps is not None:
        box = app.page.get_by_label("number input for Steps (windows)")
        box.fill(str(steps))
        box.press("Enter")
        app.wait_idle()
    # The chart is there before the run (the target alone), as a visitor sees it before pressing Start.
    app.page.wait_for_function("""() => { const p = document.querySelector('#sincos-fit svg g.mark-line path');
                                          return !!p && !!p.getAttribute('d'); }""")
    target = app.joins + app.events_of("sincos-start")
    app.watch_lines("#sincos-fit")  # records the preview first
    app.page.click("#sincos-start")
    app.wait_for_events(target)
    app.expect_text("#sincos-status", re.compile(r"Done after (\d+) of \1 steps"))
    frames = [n for n in app.line_counts("#sincos-fit")[1:] if n > 0]  # the run's own drawings
    assert len(frames) >= 3, (f"the fit was drawn {len(frames)} times; an animation needs several frames "
                              f"(drawings at ms, charts created: {app.line_log('#sincos-fit')}; "
                              f"status: {app.text('#sincos-status')[:80]!r})")
    drawn = app.page.eval_on_selector_all("#sincos-fit svg g.mark-line path",
                                          "ps => ps.filter(p => (p.getAttribute('d') || '').length > 1).length")
    assert drawn >= 2, f"the fit plot shows {drawn} line(s) after the run; the target and the prediction expected"
    app.expect_image("#sincos-extra")
    assert app.page.locator("#sincos-gif a").count() >= 1, "no GIF to download after the run"


@tab_check("LeNet-5", "lenet5")
def check_lenet(app: AppPage) -> None:
    """C1's feature maps for the drawing."""
    app.act("#lenet-maps")
    app.expect_image("#lenet-feature-maps")
    app.expect_text("#lenet-maps-msg", "responds most")


@tab_check("Pixel shuffle", "pixel_shuffle", mnist=True)
def check_shuffle(app: AppPage) -> None:
    """The shipped results chart, and the MLP's exact twin on shuffled pixels."""
    app.expect_image("#shuffle-chart")
    app.act("#shuffle-prove")
    app.expect_text("#shuffle-status", "largest difference")


@tab_check("Dataset", "dataset", mnist=True)
def check_dataset(app: AppPage) -> None:
    """Training image #0 with its label, and a page of one digit."""
    app.act("#ds-show")
    app.page.get_by_text(re.compile(r"Training image #0: label \d")).wait_for()
    app.act("#ds-grid")
    app.act("#ds-class")


@tab_check("t-SNE", "tsne", mnist=True)
def check_tsne(app: AppPage) -> None:
    """A t-SNE map of the default model's last layer, then the drawing placed in it."""
    app.act("#tsne-go")
    app.expect_image("#tsne-plot")
    app.expect_text("#tsne-status", "test digits")
    app.act("#tsne-place")  # the drawing as a star in the map, and its nearest test digits
    m = re.search(r"drawing as (\d)", app.text("#tsne-status"))
    assert m and m.group(1) == app.drawn, app.text("#tsne-status")
    app.expect_image("#tsne-gallery")


# ---------- what each tab shows when it is opened, before anything is pressed (#18) ----------
# (kind, selector, detail): "visible" = the element is shown; "image" = a loaded <img> under it (gr.Plot, gr.Image,
# gr.Gallery); "table" = a gr.Dataframe with at least `detail` rows; "lines" = a gr.LinePlot with a drawn line;
# "text" = matching text.
FIRST_CONTENT: dict[str, list[tuple[str, str, Any]]] = {
    "Draw": [("visible", "#pad canvas", None), ("text", "#draw-message", "Draw a digit")],
    "Model's eye": [("image", "#eye-steps", None), ("text", "#eye-message", re.compile(r"reads \*?\*?\d|reads \d"))],
    "Why this digit?": [("image", "#explain-top", None), ("image", "#explain-runner-up", None),
                        ("image", "#explain-acts", None)],
    "Trust": [("image", "#trust-reliability", None), ("image", "#trust-attack", None),
              ("table", "#trust-transfer", 2)],
    "Train": [("lines", "#loss-plot", None), ("lines", "#acc-plot", None), ("text", "#train-status", "recorded run")],
    "Teach it": [("text", "#teach-summary", re.compile(r"of 300"))],
    "Evaluate": [("table", "#compare-table", 2), ("text", "#eval-summary", "on the 10,000 test images"),
                 ("image", "#eval-calibration", None)],
    "t-SNE": [("image", "#tsne-plot", None), ("text", "#tsne-status", "test digits")],
    "LSTM reader": [("image", "#lstm-image", None), ("image", "#lstm-heat", None)],
    "sin → cos RNN": [("lines", "#sincos-fit", None)],
    "LeNet-5": [("table", "#layers-lenet5", 5), ("image", "#lenet-filters", None),
                ("image", "#lenet-feature-maps", None)],
    "Pixel shuffle": [("image", "#shuffle-chart", None), ("table", "#shuffle-table", 2)],
    "Dataset": [("image", "#ds-image", None)],
}
MNIST_FIRST = {"t-SNE", "Dataset"}  # their first content needs the MNIST files


def expect_first_content(app: AppPage, tab: str) -> None:
    """Wait until the tab (already open) shows each of its FIRST_CONTENT items; nothing is pressed."""
    for kind, sel, detail in FIRST_CONTENT[tab]:
        if kind == "visible":
            app.page.locator(sel).first.wait_for(state="visible")
        elif kind == "image":
            app.expect_image(sel)
        elif kind == "table":
            app.page.wait_for_function(
                """([sel, n]) => { const g = document.querySelector(sel + ' [role=grid]');
                                   return !!g && +(g.getAttribute('aria-rowcount') || 1) - 1 >= n; }""",
                arg=[sel, detail], timeout=TIMEOUT_S * 1000)
        elif kind == "lines":
            app.page.wait_for_function(
                """sel => [...document.querySelectorAll(sel + ' svg g.mark-line path')]
                           .some(p => (p.getAttribute('d') || '').length > 1)""", arg=sel, timeout=TIMEOUT_S * 1000)
        else:
            app.expect_text(sel, detail)
