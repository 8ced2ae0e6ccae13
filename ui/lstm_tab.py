"""The LSTM-reader tab: seed 002's LSTM reads a digit one row at a time; when does it become sure?"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import gradio as gr
import numpy as np

from mnist_demo.data import load_mnist
from mnist_demo.experiments import lstm_reader
from mnist_demo.numbers import as_number
from mnist_demo.plots import sequence as plots_sequence
from mnist_demo.service import Service
from mnist_demo.session import SESSION_PREFIX, VisitorSession

from .common import DRAW_A_DIGIT, DRAW_FIRST, EXAMPLE_NOTE, on_open, pad_or_example
from .components import Number, Slider
from .errors import friendly_errors


def _lstm_names(service: Service, session: VisitorSession | None) -> list[str]:
    return [n for n in service.model_names(session) if n == "lstm" or n.startswith(f"{SESSION_PREFIX}lstm #")]


def _label(probs: np.ndarray) -> dict[str, float]:
    return {str(d): float(p) for d, p in enumerate(probs)}


def _reading_text(probs: np.ndarray, what: str) -> str:
    r = lstm_reader.summarise(probs)
    sure = (f"and is ≥ {r.threshold:.0%} sure from row **{r.sure_row}**" if r.sure_row
            else f"but never reaches {r.threshold:.0%}")
    return (f"{what}: the LSTM reads a **{r.digit}** ({r.confidence:.1%}) after all 28 rows. It settles on it "
            f"after row **{r.settled_row}** {sure}. Drag the row slider or press **Play** to watch it read.")


# Handlers: module-level, bound to the service in build_lstm_tab (functools.partial), testable without a server.
def refresh(service: Service, session: VisitorSession | None, current: str | None) -> Any:
    """The LSTM models this visitor may pick (the committed one and their own), keeping the current one."""
    choices = _lstm_names(service, session)
    return gr.update(choices=choices, value=current if current in choices else (choices[0] if choices else None))


def resolve(service: Service, name: str | None, session: VisitorSession | None) -> Any:
    """The chosen LSTM, or a message saying how to get one."""
    if not name:
        raise ValueError("no LSTM model is available: train one on the Train tab "
                         "(or rebuild the committed one with python -m mnist_demo.train --model lstm)")
    return service.resolve(name, session)[0]


def show(img: np.ndarray, probs: np.ndarray, text: str) -> tuple:
    """The reading's outputs: the input with all rows read, the final answer, the per-row heat map."""
    return (plots_sequence.row_highlight(img, 28), _label(probs[-1]),
            plots_sequence.rows_heatmap(probs), text, 28, {"image": img, "probs": probs})


@friendly_errors
def read_drawing(service: Service, value: Any, name: str, session: VisitorSession | None) -> tuple:
    """The LSTM's answer after each row of the drawing."""
    resolve(service, name, session)  # the LSTM reader's own message when none is available
    reading = service.read_drawing(value, name, session)
    if reading is None:
        return None, DRAW_A_DIGIT, None, DRAW_FIRST, 28, None
    pre = reading.pre
    probs = lstm_reader.row_probabilities(reading.model, pre.image)
    return show(pre.image, probs, _reading_text(probs, "Your drawing"))


@friendly_errors
def read_test_digit(service: Service, i: Any, name: str, session: VisitorSession | None) -> tuple:
    """The LSTM's answer after each row of test image #i."""
    net = resolve(service, name, session)
    img, true = lstm_reader.pick_test_digit(load_mnist(train=False), i)
    probs = lstm_reader.row_probabilities(net, img)
    return show(img, probs, _reading_text(probs, f"Test image #{int(i)} (a {true})"))


@friendly_errors
def at_row(r: Any, rd: dict | None) -> tuple:
    """The input and the answer after `r` rows of the last reading (r cut to 0..28)."""
    if not rd:
        return gr.update(), gr.update()
    k = min(max(int(as_number(r or 0, "rows read")), 0), 28)
    probs = rd["probs"][k - 1] if k else np.full(10, 0.1)
    return plots_sequence.row_highlight(rd["image"], k), _label(probs)


def play_rows(rd: dict | None) -> Iterator[tuple]:
    """Rows 1 to 28 one after another, as an animation."""
    if not rd:
        raise gr.Error("Read a drawing or a test digit first.")
    for k in range(1, 29):
        img, lab = at_row(k, rd)
        yield img, lab, k
        time.sleep(0.12)


@friendly_errors
def accuracy_curve(service: Service, name: str, session: VisitorSession | None) -> tuple:
    """Test accuracy if the LSTM had to answer after k rows, k = 1..28."""
    net = resolve(service, name, session)
    test = load_mnist(train=False)
    acc = lstm_reader.accuracy_by_rows(net, test)
    half = int(np.argmax(acc >= 0.5)) + 1 if (acc >= 0.5).any() else None
    text = (f"With all 28 rows **{name}** scores {acc[-1]:.2%}; after 14 rows (the top half) {acc[13]:.2%}"
            + (f"; it passes 50% after {half} rows." if half else "."))
    return plots_sequence.k_rows_accuracy(acc, len(test)), text


@friendly_errors
def opened(service: Service, value: Any, name: str, session: VisitorSession | None) -> tuple:
    """The reading of the drawing, or of the example 7 while the pad is blank."""
    value, example = pad_or_example(service, value)
    out = read_drawing(service, value, name, session)
    return (*out[:3], EXAMPLE_NOTE + "  \n" + out[3], *out[4:]) if example else out


def build_lstm_tab(service: Service, state: gr.State, pad: gr.Sketchpad, tab: gr.Tab | None = None) -> None:
    """Lay out the LSTM-reader tab: per-row answers for the current drawing or a test digit, and accuracy vs rows;
    opening `tab` reads the drawing, or an example 7 while the pad is blank."""
    names = _lstm_names(service, None)
    gr.Markdown("Seed 002's LSTM reads a digit **one row of 28 pixels at a time**, top to bottom, and answers after "
                "the last row. Asking its answer after every row shows when it *becomes sure*.")
    reading = gr.State(None)  # {"image": (28, 28), "probs": (28, 10)} of the last reading
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            model = gr.Dropdown(names, value=names[0] if names else None, label="LSTM model",
                                info="the committed lstm, or one you trained on the Train tab")
            read_pad = gr.Button("Read my drawing (Draw tab)", variant="primary", elem_id="lstm-read-pad")
            with gr.Row():
                index = Number(value=0, precision=0, minimum=0, maximum=9999, label="Test image #",
                                  min_width=100)
                read_test = gr.Button("Read test digit", elem_id="lstm-read-test")
            row = Slider(0, 28, value=28, step=1, label="Rows read", elem_id="lstm-row")
            play = gr.Button("▶ Play", elem_id="lstm-play")
        with gr.Column(scale=1, min_width=240):
            image = gr.Image(label="Input (orange = the row being read)", height=240, width=240, interactive=False,
                             buttons=[], elem_id="lstm-image")
            label = gr.Label(num_top_classes=3, label="Its answer after these rows", elem_id="lstm-label")
        with gr.Column(scale=1, min_width=300):
            heat = gr.Plot(label="Probability of each digit after each row", show_label=False, elem_id="lstm-heat")
    hint = ("Draw a digit on the **Draw** tab, or pick a test image, then press a **Read** button." if names else
            "⚠️ No LSTM checkpoint could be loaded. Train an `lstm` on the **Train** tab and it appears in the list "
            "above (or rebuild the committed one: `python -m mnist_demo.train --model lstm --recipe best`).")
    message = gr.Markdown(hint, elem_id="lstm-message")
    with gr.Row():
        acc_btn = gr.Button("Accuracy on the test set if it stops after k rows", elem_id="lstm-acc-btn")
    acc_text = gr.Markdown(elem_id="lstm-acc-text")
    acc_plot = gr.Plot(label="Accuracy vs rows read", show_label=False, elem_id="lstm-acc")

    refresh_, read_drawing_, read_test_digit_, accuracy_curve_, opened_ = (
        partial(fn, service) for fn in (refresh, read_drawing, read_test_digit, accuracy_curve, opened))

    model.focus(refresh_, [state, model], model, api_name=False, queue=False)

    reading_outs = [image, label, heat, message, row, reading]
    common = dict(concurrency_id="lstm", concurrency_limit=4, show_progress="minimal")
    read_pad.click(read_drawing_, [pad, model, state], reading_outs, api_name="lstm_read", **common)

    on_open(tab, opened_, [pad, model, state], reading_outs, concurrency_id="lstm", concurrency_limit=4)
    read_test.click(read_test_digit_, [index, model, state], reading_outs, api_name="lstm_read_test", **common)
    row.input(at_row, [row, reading], [image, label], api_name="lstm_row", trigger_mode="always_last",
              show_progress="hidden")
    play.click(play_rows, reading, [image, label, row], api_name="lstm_play", show_progress="hidden",
               concurrency_id="lstm_play", concurrency_limit=8)
    acc_btn.click(accuracy_curve_, [model, state], [acc_plot, acc_text], api_name="lstm_accuracy",
                  show_progress_on=[acc_text], **{k: v for k, v in common.items() if k != "show_progress"})
