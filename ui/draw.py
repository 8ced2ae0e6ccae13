"""Draw tab: the sketchpad, the chosen model's top-3, every model side by side, the 28×28 it sees."""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from mnist_demo.plots import charts
from mnist_demo.service import Service
from mnist_demo.session import VisitorSession
from mnist_demo.trust.facade import Trust

from .common import BRUSH_RADIUS, CANVAS, DRAW_A_DIGIT, blank_pad, upscale
from .components import Sketchpad
from .errors import friendly_errors
from .teach_tab import correction_row

TABLE_COLS = ["model", "top-1", "confidence", "2nd", "latency (ms)"]


# Handlers: module-level, bound to the service (and the trust verdict) in build_draw_tab (functools.partial),
# testable without a server.
@friendly_errors
def predict_label(service: Service, value: Any, model: str, session: VisitorSession | None = None) -> Any:
    """The chosen model's top 3 (only it: the side-by-side view, `details`, runs every model in its own event)."""
    reading = service.read_drawing(value, model, session)
    return DRAW_A_DIGIT if reading is None else reading.predict().as_dict()


@friendly_errors
def details(service: Service, trust: Trust, value: Any, model: str, session: VisitorSession) -> tuple:
    """Every model side by side, the bar chart, what the model sees, and the message (or "not a digit")."""
    pre, main, every = service.predict(value, model, session)
    if pre is None or main is None:
        return (DRAW_A_DIGIT, pd.DataFrame(columns=TABLE_COLS), None, None,
                "✏️ **Draw a digit** on the pad: one finished stroke is enough to get a first guess.")
    rows = []
    for p in every:
        order = p.probs.argsort()[::-1]
        rows.append([p.model, int(order[0]), round(p.confidence, 4), int(order[1]), round(p.ms, 2)])
    agree = sum(r[1] == main.digit for r in rows)
    verdict = trust.verdict(pre, every)  # None without a committed reject rule
    if verdict is not None and verdict.flagged:  # the answer stays, greyed, with the reason (issue 21)
        head = "This doesn't look like a digit" if verdict.unlike_digits else "Not sure this is a digit"
        # The span greys the Top-3 answer (app.py's CSS): the /draw API's outputs keep their plain values.
        msg = (f'<span class="not-a-digit">🤔</span> **{head}**: {verdict.reason}. Its greyed-out best guess: '
               f"{main.model} says {main.digit} "
               f"({main.confidence:.1%}); {agree} of {len(rows)} models agree. The **Trust** tab explains.")
    else:
        msg = (f"**{main.model}** reads a **{main.digit}** ({main.confidence:.1%}). "
               f"{agree} of {len(rows)} models agree.")
    fig = charts.probability_bars([p.model for p in every], [p.probs for p in every])
    return (main.as_dict(), pd.DataFrame(rows, columns=TABLE_COLS), fig, upscale(pre.image), msg)


def clear() -> tuple:
    """A blank pad and empty outputs."""
    return (blank_pad(), DRAW_A_DIGIT, pd.DataFrame(columns=TABLE_COLS), None, None,
            "✏️ **Draw a digit** on the pad.")


def build_draw_tab(service: Service, state: gr.State) -> dict[str, Any]:
    """Lay out the Draw tab and wire its events; returns components other tabs update."""
    names = service.draw_choices()
    best = service.best_model() if len(names) > 1 else None
    trust = Trust(service)  # "that's not a digit" (stateless: the rule is read once per file version)
    predict_label_, details_ = partial(predict_label, service), partial(details, service, trust)

    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=300):
            with gr.Column():  # a pad directly in a Row is mis-centred on some loads (gradio-6 notes §1)
                pad = Sketchpad(  # vets uploads: a non-image or a huge picture gets a message
                    value=blank_pad(), image_mode="RGBA", type="numpy", canvas_size=(CANVAS, CANVAS),
                    layers=False, transforms=(), elem_id="pad", label="Draw a digit",
                    brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=BRUSH_RADIUS),
                    interactive=True,
                )
            model_dd = gr.Dropdown(names, value=best, label="Model", elem_id="draw-model",
                                   info="Default: the best reader of real people's handwriting (held-out writers)")
            with gr.Row():
                clear_btn = gr.Button("Clear", elem_id="clear")
                predict_btn = gr.Button("Predict", variant="primary", elem_id="predict")
        with gr.Column(scale=6, min_width=320):
            message = gr.Markdown("✏️ **Draw a digit** on the pad.", elem_id="draw-message")
            label = gr.Label(num_top_classes=3, label="Top 3", elem_id="label")
            correction_row(state, pad)  # "Wrong? It's a: [0]…[9]" saves the drawing to the visitor's set
            # The label goes above, not on the image: gradio overlays labels on a 180 px picture's top.
            gr.Markdown("**What the model sees** (28×28)", elem_id="seen-title")
            seen = gr.Image(label="What the model sees (28×28)", show_label=False, height=180, width=180,
                            interactive=False, elem_id="seen", buttons=[])
    with gr.Row():
        bars = gr.Plot(label="Every model on this drawing", show_label=False, elem_id="bars")
    table = gr.Dataframe(headers=TABLE_COLS, label="Side by side", interactive=False, elem_id="table")

    outs = [label, table, bars, seen, message]
    common = dict(concurrency_id="predict", concurrency_limit=4, show_progress="hidden")
    predict_btn.click(predict_label_, [pad, model_dd, state], label, api_name="predict", **common).then(
        details_, [pad, model_dd, state], outs, api_name=False, **common)
    pad.input(details_, [pad, model_dd, state], outs, api_name="draw", trigger_mode="always_last", **common)
    model_dd.change(details_, [pad, model_dd, state], outs, api_name=False, **common)

    # No progress overlay: with queue=False gradio can leave one stuck on the pad, which then swallows
    # the next strokes (seen in the browser suite after Clear).
    clear_btn.click(clear, None, [pad, *outs], api_name=False, queue=False, show_progress="hidden")
    return {"pad": pad, "model": model_dd}
