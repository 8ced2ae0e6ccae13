"""Model's-eye tab: the preprocessing steps one by one (with switches) and robustness probes."""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from mnist_demo.probes import robustness
from mnist_demo.service import Service
from mnist_demo.session import VisitorSession

from .common import DRAW_A_DIGIT, DRAW_FIRST, EXAMPLE_NOTE, on_open, pad_or_example, upscale
from .errors import friendly_errors

STEP_NOTES = {
    "raw": "ink map (polarity detected, transparent → white)",
    "cropped": "cropped to the ink (specks dropped)",
    "stroke width": "pen width set to MNIST's",
    "fitted 20×20": "longest side fitted into 20 px",
    "stretched": "stretched to 28×28 (no 20 px box)",
    "model input": "28×28, centred by centre of mass",
}


# Handlers: module-level, bound to the service in build_eye_tab (functools.partial), testable without a server.
@friendly_errors
def steps(service: Service, value: Any, name: str, crop: bool, thick: bool, fit: bool, centre: bool,
          session: VisitorSession | None) -> tuple:
    """The drawing's preprocessing steps with the chosen switches, and the model's answer on the result."""
    reading = service.read_drawing(value, name, session, crop=crop, fit=fit, centre=centre, thickness=thick)
    if reading is None:
        return [], DRAW_A_DIGIT, DRAW_FIRST
    pre = reading.pre
    gallery = [(upscale(img, 168), STEP_NOTES.get(k, k)) for k, img in pre.steps.items()]
    p = reading.predict()
    off = [n for n, on in (("crop", crop), ("stroke width", thick), ("fit 20 px", fit), ("centre", centre))
           if not on]
    why = (f"With **{', '.join(off)}** switched off, {name} reads **{p.digit}** ({p.confidence:.1%}). "
           "Switch the steps back on to see what each one fixes.") if off else (
           f"All steps on: {name} reads **{p.digit}** ({p.confidence:.1%}); ink was {pre.polarity}.")
    return gallery, p.as_dict(), why


@friendly_errors
def probe(service: Service, value: Any, session: VisitorSession | None) -> tuple:
    """Every model's answer under each robustness probe of the drawing."""
    models = {n: service.resolve(n, session)[0] for n in service.model_names(session)}
    header, rows, inputs = robustness(models, value)
    if not rows:
        return pd.DataFrame(), [], DRAW_FIRST
    kept = {h: sum("✓" in r[i + 1] for r in rows[1:]) for i, h in enumerate(header[1:])}
    best = max(kept, key=kept.get)
    msg = (f"Each probe changes your drawing, then every model reads it again. **{best}** kept its answer "
           f"in {kept[best]} of {len(rows) - 1} probes.")
    return pd.DataFrame(rows, columns=header), [(upscale(v, 112), k) for k, v in inputs.items()], msg


@friendly_errors
def opened(service: Service, value: Any, name: str, crop: bool, thick: bool, fit: bool, centre: bool,
           session: VisitorSession | None) -> tuple:
    """The steps for the drawing, or for the example 7 while the pad is blank."""
    value, example = pad_or_example(service, value)
    gallery_items, answer, why = steps(service, value, name, crop, thick, fit, centre, session)
    return gallery_items, answer, (EXAMPLE_NOTE + "  \n" + why) if example else why


def build_eye_tab(service: Service, state: gr.State, pad: gr.Sketchpad, tab: gr.Tab | None = None) -> None:
    """Lay out the Model's-eye tab; it reads the Draw tab's pad (opening `tab` shows the steps for the drawing,
    or for an example 7 while the pad is blank)."""
    names = service.model_names()
    steps_, probe_, opened_ = (partial(fn, service) for fn in (steps, probe, opened))
    gr.Markdown("What the models actually see: your drawing from the **Draw** tab, step by step. "
                "Switch a step off to see why it matters.")
    with gr.Row():
        model = gr.Dropdown(names, value=service.best_model(single=True) if names else None, label="Model",
                            elem_id="eye-model")
        crop = gr.Checkbox(True, label="crop to the ink")
        thick = gr.Checkbox(True, label="normalise pen width")
        fit = gr.Checkbox(True, label="fit into 20 px")
        centre = gr.Checkbox(True, label="centre by mass")
        show = gr.Button("Show the steps", variant="primary", elem_id="eye-show")
    with gr.Row():
        gallery = gr.Gallery(label="Preprocessing steps", columns=5, height=230, object_fit="contain",
                             elem_id="eye-steps")
        with gr.Column(scale=0, min_width=260):
            label = gr.Label(num_top_classes=3, label="Prediction with these steps")
    msg = gr.Markdown(elem_id="eye-message")
    gr.Markdown("### Robustness probes\nShift, shrink, thicken, thin or rotate your drawing: which models keep "
                "their answer?")
    probe_btn = gr.Button("Probe every model", elem_id="eye-probe")
    probe_msg = gr.Markdown()
    probe_table = gr.Dataframe(label="Answer under each probe (✓ = same as for the drawing as drawn)",
                               interactive=False, elem_id="eye-table")
    probe_gallery = gr.Gallery(label="What the models saw under each probe", columns=7, height=200,
                               object_fit="contain")
    inputs = [pad, model, crop, thick, fit, centre, state]
    common = dict(concurrency_id="predict", concurrency_limit=4)
    show.click(steps_, inputs, [gallery, label, msg], api_name="eye_steps", **common)
    for box in (crop, thick, fit, centre, model):
        box.change(steps_, inputs, [gallery, label, msg], api_name=False, **common)
    probe_btn.click(probe_, [pad, state], [probe_table, probe_gallery, probe_msg], api_name="probe", **common)

    on_open(tab, opened_, inputs, [gallery, label, msg], concurrency_id="eye_open", concurrency_limit=2)
