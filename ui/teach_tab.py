"""Teach it: collect your own digits, fine-tune a copy of a model on them, see before and after.

Also the Draw tab's "Wrong? It's a: [0]…[9]" row (correction_row), which saves the drawing with its label.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from mnist_demo.my_digits import CAPACITY, MyDigits
from mnist_demo.personalize import HOLDOUT_FRACTION, TeachReport
from mnist_demo.service import Service
from mnist_demo.session import VisitorSession
from mnist_demo.teaching import (
    MAX_STEPS,
    before_after_rows,
    my_digits,
    next_prompt,
    save_drawing,
    teach_config,
    teach_stream,
)

from .common import BRUSH_RADIUS, CANVAS, blank_pad, upscale
from .components import Number, Sketchpad
from .errors import friendly_errors, friendly_stream

INTRO = f"""**Teach it your handwriting.** Save drawings with the right label (here, or on the Draw tab under the
answer: *Wrong? It's a: …*), then fine-tune a copy of a model on them for a few seconds. Each batch mixes your
drawings with MNIST and real pen digits, so it learns your hand without forgetting everyone else's.
**Honest score:** a fixed {HOLDOUT_FRACTION:.0%} of your drawings of each digit (digits with 2 or more) is held out
before training and never used for it; the table compares the base model and the fine-tuned one on them.
Your drawings stay in this browser session only (never saved on the server, at most {CAPACITY})."""
BEFORE_AFTER_COLS = ["measured on", "base model", "fine-tuned"]


def _gallery(digits: MyDigits) -> list[tuple[Any, str]]:
    return [(upscale(d.image, 84), f"{d.label} · #{d.id}") for d in digits.items()]


def _summary(digits: MyDigits) -> str:
    counts = digits.counts()
    per = " · ".join(f"{d}: {c}" for d, c in enumerate(counts))
    return f"**{len(digits)} of {CAPACITY}** drawings saved. Per digit: {per}"


def _flips(report: TeachReport, images: dict[int, Any], ids: Any) -> list[tuple[Any, str]]:
    """Gallery items for held-out drawings that flipped: '#id: base answer → fine-tuned answer'."""
    answers = dict(zip(report.holdout_ids.tolist(), zip(report.base_preds.tolist(), report.tuned_preds.tolist())))
    return [(upscale(images[i], 84), f"#{i}: {answers[i][0]} → {answers[i][1]}") for i in ids.tolist()]


# Handlers: module-level (those using the service bound to it in build_teach_tab with functools.partial), testable
# without a server.
@friendly_errors
def save_correction(digit: int, value: Any, session: VisitorSession | None) -> tuple[str, VisitorSession]:
    """The Draw tab's "Wrong? It's a: `digit`": the pad's drawing saved with that label."""
    session = session or VisitorSession()
    item = save_drawing(session, value, digit)
    if item is None:
        return "✏️ Draw a digit first, then tell it what it is.", session
    n = len(my_digits(session))
    return (f"Saved as a **{digit}** ({n} of your drawings). Fine-tune on them in the **Teach it** tab.",
            session)


def view(session: VisitorSession | None) -> tuple:
    """The visitor's drawings as a gallery, and how many of each digit."""
    digits = my_digits(session) if session else MyDigits()
    return _gallery(digits), _summary(digits)


@friendly_errors
def save(value: Any, digit: Any, session: VisitorSession | None) -> tuple:
    """The drawing saved with its label; the next digit to draw and a blank pad."""
    session = session or VisitorSession()
    item = save_drawing(session, value, digit)
    digits = my_digits(session)
    if item is None:
        raise gr.Error("Draw a digit first.")
    nxt = next_prompt(digits)
    return (*view(session), f"### Draw a **{nxt}**", str(nxt), blank_pad(), session)


@friendly_errors
def remove(digit_id: Any, session: VisitorSession | None) -> tuple:
    """Drawing #digit_id removed from the visitor's set."""
    if session is None or digit_id is None or not my_digits(session).remove(int(digit_id)):
        raise gr.Error(f"There is no drawing #{digit_id} in your set.")
    return view(session)


def remove_all(session: VisitorSession | None) -> tuple:
    """Every drawing removed from the visitor's set."""
    if session is not None:
        my_digits(session).clear()
    return view(session)


def pick(session: VisitorSession | None, evt: gr.SelectData) -> Any:
    """The # of the drawing clicked in the gallery (for Remove)."""
    items = my_digits(session).items() if session else []
    return items[evt.index].id if evt.index is not None and 0 <= evt.index < len(items) else None


@friendly_errors
def export(service: Service, session: VisitorSession | None) -> Any:
    """The visitor's set as an MNIST-format .npz to download."""
    digits = my_digits(session) if session else MyDigits()
    if not len(digits):
        raise gr.Error("Your set is empty: save some drawings first.")
    path = digits.write_npz(service.visitor_folder(session) / "my_digits.npz")
    service.files.enforce(keep=path)
    return gr.update(value=str(path), visible=True)


@friendly_errors
def import_npz(path: str | None, session: VisitorSession | None) -> tuple:
    """Drawings from a .npz made here added to the visitor's set."""
    session = session or VisitorSession()
    if path:
        n = my_digits(session).import_npz(Path(path))
        gr.Info(f"Imported {n} drawings.")
    return (*view(session), None, session)


@friendly_stream
def run(service: Service, n_other: int, name: str, n_steps: Any, session: VisitorSession | None,
        progress: gr.Progress = gr.Progress()) -> Any:
    """A fine-tune on the visitor's drawings, live: the loss, then the before/after table, the flips and the file;
    `n_other` is the number of other tabs' model dropdowns the new model joins."""
    cfg = teach_config(service, n_steps)
    session = session or VisitorSession()
    keep = gr.update()
    for up in teach_stream(service, session, name, cfg):
        progress(up.progress, desc=up.status.split(" · ")[0])
        loss_df = pd.DataFrame({"step": up.steps, "loss": up.losses})
        if not up.done:
            yield (loss_df, up.status, keep, keep, keep, keep, keep, keep, *[keep] * n_other, session)
            continue
        rep = up.report
        rows = pd.DataFrame(before_after_rows(rep), columns=BEFORE_AFTER_COLS)
        choices = service.model_names(session)
        yield (loss_df, up.status, rows, _flips(rep, up.images, rep.fixed), _flips(rep, up.images, rep.broken),
               str(up.checkpoint), gr.update(choices=service.draw_choices(session), value=up.model_name),
               gr.update(choices=choices),
               *[gr.update(choices=choices) for _ in range(n_other)], session)


def correction_row(state: gr.State, pad: gr.Sketchpad) -> None:
    """The Draw tab's "Wrong? It's a: [0]…[9]": saves the pad's drawing with that label to the visitor's set."""
    gr.Markdown("**Wrong? It's a:**", elem_id="wrong-title")
    with gr.Row(elem_id="wrong-row"):
        buttons = [gr.Button(str(d), size="sm", min_width=34, elem_id=f"wrong-{d}") for d in range(10)]
    note = gr.Markdown("", elem_id="wrong-note")

    for d, btn in enumerate(buttons):
        btn.click(partial(save_correction, d), [pad, state], [note, state], api_name=False, concurrency_id="predict",
                  concurrency_limit=4, show_progress="hidden")


def build_teach_tab(service: Service, state: gr.State, draw_model: gr.Dropdown,
                    other_models: list[gr.Dropdown], tab: gr.Tab | None = None) -> None:
    """Lay out the Teach it tab; a finished fine-tune adds the model to this visitor's dropdowns."""
    gr.Markdown(INTRO, elem_id="teach-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            prompt = gr.Markdown("### Draw a **0**", elem_id="teach-prompt")
            with gr.Column():  # a pad directly in a Row is mis-centred on some loads (gradio-6 notes §1)
                pad = Sketchpad(value=blank_pad(), image_mode="RGBA", type="numpy", canvas_size=(CANVAS, CANVAS),
                                layers=False, transforms=(), elem_id="teach-pad", label="Draw the digit asked for",
                                brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=BRUSH_RADIUS),
                                interactive=True)
            label = gr.Radio([str(d) for d in range(10)], value="0", label="It's a", elem_id="teach-label")
            with gr.Row():
                clear_btn = gr.Button("Clear", elem_id="teach-clear")
                save_btn = gr.Button("Save", variant="primary", elem_id="teach-save")
        with gr.Column(scale=6, min_width=320):
            summary = gr.Markdown(_summary(MyDigits()), elem_id="teach-summary")
            gallery = gr.Gallery(label="My digits (click one, then Remove)", columns=6, height=300,
                                 allow_preview=False, elem_id="teach-gallery")
            with gr.Row():
                remove_id = Number(value=None, label="Drawing # (click one above)", precision=0, minimum=1,
                                   elem_id="teach-remove-id")
                remove_btn = gr.Button("Remove", elem_id="teach-remove")
                clear_all = gr.Button("Remove all", variant="stop", elem_id="teach-remove-all")
            with gr.Row():
                export_btn = gr.Button("Download my digits (.npz)", elem_id="teach-export")
                export_file = gr.File(label="MNIST-format .npz: images (N, 28, 28) uint8, labels (N,)",
                                      interactive=False, visible=False, elem_id="teach-export-file")
                import_file = gr.File(label="Import a .npz made here", file_types=[".npz"], type="filepath",
                                      height=120, elem_id="teach-import")
    gr.Markdown("### Fine-tune")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            tunable = service.model_names()
            model = gr.Dropdown(tunable, value=service.best_model(single=True) if tunable else None,
                                label="Model to fine-tune (a copy)", elem_id="teach-model")
            steps = Number(value=teach_config(service).steps, label=f"Steps (10–{MAX_STEPS})", precision=0,
                           minimum=10, maximum=MAX_STEPS, elem_id="teach-steps")
            start = gr.Button("Fine-tune on my digits", variant="primary", elem_id="teach-start")
            status = gr.Markdown("", elem_id="teach-status")
            checkpoint = gr.File(label="The fine-tuned checkpoint", interactive=False, elem_id="teach-checkpoint")
        with gr.Column(scale=2, min_width=360):
            loss_plot = gr.LinePlot(x="step", y="loss", title="Fine-tune loss (your drawings + replay)", height=220,
                                    elem_id="teach-loss")
            table = gr.Dataframe(headers=BEFORE_AFTER_COLS, label="Before and after", interactive=False,
                                 elem_id="teach-table")
            with gr.Row():
                fixed = gr.Gallery(label="Held out: wrong → right", columns=6, height=140, allow_preview=False,
                                   elem_id="teach-fixed")
                broken = gr.Gallery(label="Held out: right → wrong", columns=6, height=140, allow_preview=False,
                                    elem_id="teach-broken")

    gallery_outs = [gallery, summary]
    save_btn.click(save, [pad, label, state], [*gallery_outs, prompt, label, pad, state], api_name="teach_save",
                   concurrency_id="predict", concurrency_limit=4, show_progress="hidden")
    clear_btn.click(blank_pad, None, pad, api_name=False, queue=False, show_progress="hidden")
    remove_btn.click(remove, [remove_id, state], gallery_outs, api_name="teach_remove", show_progress="hidden")
    clear_all.click(remove_all, state, gallery_outs, api_name="teach_remove_all", show_progress="hidden")
    gallery.select(pick, state, remove_id, api_name=False, show_progress="hidden")
    export_btn.click(partial(export, service), state, export_file, api_name="teach_export")
    import_file.upload(import_npz, [import_file, state], [*gallery_outs, import_file, state], api_name="teach_import")
    start.click(partial(run, service, len(other_models)), [model, steps, state],
                [loss_plot, status, table, fixed, broken, checkpoint, draw_model, model, *other_models, state],
                api_name="teach", concurrency_id="train", concurrency_limit=1 if service.limits.max_epochs <= 2 else 2,
                show_progress_on=[status])
    if tab is not None:  # drawings saved on the Draw tab show up when the visitor comes here
        tab.select(view, state, gallery_outs, api_name=False, show_progress="hidden")

