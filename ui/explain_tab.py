"""'Why this digit?' tab: saliency and occlusion for the top class and the runner-up, and activations.

It reads the Draw tab's pad in its own events (never slowing Draw's prediction) and caches results
per (drawing, model, method), so switching back and forth costs only the figure rendering.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import gradio as gr

from mnist_demo import explain
from mnist_demo.plots import explain as plots_explain
from mnist_demo.service import Service
from mnist_demo.session import VisitorSession

from .common import EXAMPLE_NOTE, on_open, pad_or_example
from .errors import friendly_errors

METHODS = [("integrated gradients", "integrated"), ("gradient × input", "grad_x_input"),
           ("gradient (where more ink would help)", "gradient")]
GUIDE = ("**How to read the maps.** *Saliency* scores each pixel of your ink by how much it pushed the answer "
         "(integrated gradients add up to the change from a black image). *Occlusion* blanks a 6×6 patch at a "
         "time and measures how much the class's probability drops. *Activations* show what every conv layer "
         "computed from your drawing; for the LSTM, its memory after reading each row.")
NO_DRAWING = "✏️ **Draw a digit on the Draw tab first**, then come back and press **Explain my drawing**."
INTRO = ("Pick a model and press **Explain my drawing**. Left: which pixels made the model choose its answer. "
         "Right: the runner-up — what would make it read *that* digit instead.")


def _pct(p: float) -> str:
    return f"{p:.1%}" if p >= 0.001 else f"{p:.1e}"


# Handlers: module-level, bound to the service and the tab's explanation cache in build_explain_tab
# (functools.partial), testable without a server.
def _input(service: Service, value: Any, name: str, session: VisitorSession | None) -> tuple:
    """(model, 28×28 image) of the drawing for the chosen model; (None, None) when the pad is blank."""
    reading = service.read_drawing(value, name, session)
    return (None, None) if reading is None else (reading.model, reading.pre.image)


@friendly_errors
def run_explain(service: Service, cache: explain.ExplainCache, value: Any, name: str, method: str,
                session: VisitorSession | None) -> tuple:
    """Saliency and occlusion maps for the top digit and the runner-up, with the probabilities."""
    model, img = _input(service, value, name, session)
    if img is None:
        return NO_DRAWING, None, None, None
    t0 = time.perf_counter()
    key = (explain.image_key(img), name, "maps", method)
    ex = cache.get_or_compute(key, model, lambda: explain.explain(model, img, method))
    ms = (time.perf_counter() - t0) * 1000
    top, ru = ex.top, ex.runner_up
    took = "Maps from the cache" if ms < 1 else f"Maps computed in {ms:.0f} ms"
    msg = (f"**{name}** reads a **{top.digit}** ({_pct(top.prob)}); runner-up **{ru.digit}** "
           f"({_pct(ru.prob)}). {took}. Outlines show your ink; "
           "red = evidence *for* the digit in the title, blue = evidence *against* it.")
    return (msg, plots_explain.probability_bar(ex.probs, f"{name}: probability per digit"),
            plots_explain.class_maps(img, top.saliency, top.occlusion, top.digit, top.prob, False, method),
            plots_explain.class_maps(img, ru.saliency, ru.occlusion, ru.digit, ru.prob, True, method))


@friendly_errors
def run_activations(service: Service, cache: explain.ExplainCache, value: Any, name: str,
                    session: VisitorSession | None) -> Any:
    """Every conv layer's feature maps for the drawing, or the LSTM's memory row by row."""
    model, img = _input(service, value, name, session)
    if img is None:
        return None
    key = (explain.image_key(img), name, "activations")
    rows = cache.get_or_compute(key, model, lambda: explain.lstm_row_states(model, img))
    if rows is not None:
        return plots_explain.lstm_states(img, *rows)
    layers = cache.get_or_compute((*key, "conv"), model, lambda: explain.conv_feature_maps(model, img))
    return plots_explain.feature_map_grid([(f"{lay.name} · {lay.layer}", lay.maps) for lay in layers],
                                          title=f"{name}: every conv layer's feature maps for your drawing")


def refresh_models(service: Service, current: str | None, session: VisitorSession | None) -> Any:
    """The models this visitor may pick now (the committed ones and their own)."""
    choices = service.model_names(session)
    if current in choices:  # leave the value alone so the open menu is not disturbed
        return gr.update(choices=choices)
    return gr.update(choices=choices, value=service.best_model(single=True) if choices else None)


@friendly_errors
def opened(service: Service, cache: explain.ExplainCache, value: Any, name: str, method: str,
           session: VisitorSession | None) -> tuple:
    """The explanation of the drawing, or of the example 7 while the pad is blank."""
    value, example = pad_or_example(service, value)
    msg, *maps = run_explain(service, cache, value, name, method, session)
    acts = run_activations(service, cache, value, name, session)
    return ((EXAMPLE_NOTE + "  \n" + msg) if example else msg, *maps, acts)


def build_explain_tab(service: Service, state: gr.State, pad: gr.Sketchpad, tab: gr.Tab | None = None) -> None:
    """Lay out the 'Why this digit?' tab; `pad` is the Draw tab's sketchpad (the current drawing); opening `tab`
    explains the drawing, or an example 7 while the pad is blank."""
    names = service.model_names()
    best = service.best_model(single=True) if names else None
    cache = explain.ExplainCache(size=64)

    run_explain_, run_activations_, opened_ = (partial(fn, service, cache)
                                              for fn in (run_explain, run_activations, opened))
    refresh_models_ = partial(refresh_models, service)

    with gr.Row(equal_height=True):
        model_dd = gr.Dropdown(names, value=best, label="Model", elem_id="explain-model",
                               info="Includes the models you trained on the Train tab")
        method = gr.Radio(METHODS, value="integrated", label="Saliency method", elem_id="explain-method")
        go = gr.Button("Explain my drawing", variant="primary", elem_id="explain-run")
    # Plot labels are hidden: each figure carries its own title, and gradio's label badge would cover it.
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            status = gr.Markdown(INTRO, elem_id="explain-status")
            gr.Markdown(GUIDE)
        with gr.Column(scale=2, min_width=260):
            probs = gr.Plot(label="Probabilities", show_label=False, elem_id="explain-probs")
    with gr.Row():
        top_plot = gr.Plot(label="Why this digit?", show_label=False, elem_id="explain-top")
        ru_plot = gr.Plot(label="What would make it the runner-up?", show_label=False, elem_id="explain-runner-up")
    acts = gr.Plot(label="Activations: conv feature maps, or the LSTM's memory row by row", show_label=False,
                   elem_id="explain-acts")

    # Own queue, apart from Draw's "predict": explaining never delays a live prediction.
    common = dict(concurrency_id="explain", concurrency_limit=2)
    ev = go.click(run_explain_, [pad, model_dd, method, state], [status, probs, top_plot, ru_plot],
                  api_name="explain", show_progress_on=[status], **common)
    ev.then(run_activations_, [pad, model_dd, state], acts, api_name="activations", show_progress_on=[acts], **common)
    for trig in (model_dd.change, method.change):
        trig(run_explain_, [pad, model_dd, method, state], [status, probs, top_plot, ru_plot], api_name=False,
             show_progress_on=[status], trigger_mode="always_last", **common)
    model_dd.change(run_activations_, [pad, model_dd, state], acts, api_name=False, show_progress_on=[acts],
                   trigger_mode="always_last", **common)

    on_open(tab, opened_, [pad, model_dd, method, state], [status, probs, top_plot, ru_plot, acts], **common)
    # The visitor may have trained a model since the page loaded: list it when the dropdown opens.
    model_dd.focus(refresh_models_, [model_dd, state], model_dd, api_name=False, queue=False)
