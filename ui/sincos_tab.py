"""The sin→cos tab: a small RNN learns to turn sin(t) into cos(t), live (seed 002, regression)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from mnist_demo.background import BusyError
from mnist_demo.experiments.sincos import LIMITS, PRESETS, config_from_values
from mnist_demo.experiments.sincos_live import PRED, TARGET, sincos_stream, target_preview
from mnist_demo.service import Service

from .components import Number, Slider
from .errors import friendly_stream


class SinCosControl:
    """Per-visitor run flag and Stop request (a plain class: gradio would serialise a dataclass)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.running = False


def _preset_values(name: str) -> tuple:
    c = PRESETS[name]
    return c.cell, c.hidden, c.lr, c.steps, c.window, c.seed, c.lr_decay


# Handlers: module-level, bound to the service in build_sincos_tab (functools.partial), testable without a server.
@friendly_stream
def run(service: Service | None, c: str, h: Any, rate: Any, n: Any, w: Any, s: Any, d: Any, k: Any, speed: Any,
        ctl: SinCosControl | None, progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:
    """The fit, live: the fit and loss plots and the status per shown step, then the extrapolation and the GIF."""
    cfg = config_from_values(c, h, rate, n, w, s, d)
    ctl = ctl if isinstance(ctl, SinCosControl) else SinCosControl()  # yielded as the state output
    if ctl.running:
        raise BusyError("a fit is already running in this tab; stop it or wait for it to finish")
    ctl.running = True
    ctl.stop.clear()
    keep = gr.update()
    try:
        # with every visitor's files, bounded (oldest removed first); a tab built without a service: a temp dir
        folder = service.files.folder() if service is not None else None
        for v in sincos_stream(cfg, int(float(k or 0)), float(speed or 0), ctl.stop.is_set, gif_dir=folder):
            progress(v.frame.step / v.frame.total, desc=f"step {v.frame.step}/{v.frame.total}")
            if v.gif is None:
                yield v.fit, v.loss, v.status, keep, keep, ctl
            else:
                if service is not None:
                    service.files.enforce(keep=v.gif)
                yield v.fit, v.loss, v.status, v.extrapolation, str(v.gif), ctl
    finally:
        ctl.running = False


def request_stop(ctl: SinCosControl | None) -> str:
    """Ask this tab's running fit to stop after the current step."""
    if not isinstance(ctl, SinCosControl) or not ctl.running:
        return "Nothing is running."
    ctl.stop.set()
    return "Stopping after this step…"


def build_sincos_tab(service: Service, state: gr.State, pad: gr.Sketchpad) -> None:
    """Lay out the sin→cos tab: controls, the live fit and its loss, then extrapolation and a GIF."""
    del state, pad  # the fit needs no committed model, visitor session or drawing; GIFs go in service.files
    # None until the first run stores its SinCosControl (gradio deep-copies a State's default; a lock cannot be).
    control = gr.State(None)
    seed = PRESETS["seed"]
    gr.Markdown("A small recurrent net sees **sin(t)** one window of length π at a time and learns to output "
                "**cos(t)**, carrying its memory (the hidden state) from window to window — seed 002's RNN "
                "regression. The defaults are the tutorial's exact settings.")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            preset = gr.Radio(list(PRESETS), value="seed", label="Preset",
                              info=f"better = {PRESETS['better'].cell.upper()} {PRESETS['better'].hidden}, "
                                   f"lr {PRESETS['better'].lr:g} × {PRESETS['better'].lr_decay:g} per step")
            cell = gr.Dropdown(["rnn", "lstm", "gru"], value=seed.cell, label="Cell")
            hidden = Slider(*LIMITS["hidden"], value=seed.hidden, step=1, label="Hidden size")
            lr = Number(value=seed.lr, label="Learning rate (Adam)", minimum=1e-5, maximum=1.0)
            decay = Number(value=seed.lr_decay, label="lr × this after every step (1 = constant)",
                              minimum=0.5, maximum=1.0)
            steps = Slider(*LIMITS["steps"], value=seed.steps, step=1, label="Steps (windows)")
            window = Slider(*LIMITS["window"], value=seed.window, step=1, label="Points per window of length π")
            seed_nb = Number(value=seed.seed, precision=0, minimum=0, maximum=2**31 - 1, label="Seed")
            with gr.Accordion("Animation", open=False):
                every = Slider(0, 50, value=0, step=1, label="Show every k-th step (0 = auto)")
                fps = Slider(0, 30, value=20, step=1, label="Updates per second (0 = as fast as possible)")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="sincos-start")
                stop = gr.Button("Stop", variant="stop", elem_id="sincos-stop")
        with gr.Column(scale=3, min_width=380):
            status = gr.Markdown("Press **Start** to watch it learn.", elem_id="sincos-status")
            with gr.Row():
                # Drawn from the start, not empty: the browser builds a chart (and loads its plotting library)
                # on the first value, which took seconds on a busy CPU and hid a whole short run's animation.
                fit_plot = gr.LinePlot(target_preview(seed.window), x="t", y="value", color="series",
                                       color_map={TARGET: "red", PRED: "blue"},
                                       y_lim=[-1.6, 1.6], title="Target (red) vs prediction (blue)", height=280,
                                       scale=3, elem_id="sincos-fit")
                no_loss = pd.DataFrame({"step": pd.Series(dtype=int), "log10_mse": pd.Series(dtype=float)})
                loss_plot = gr.LinePlot(no_loss, x="step", y="log10_mse", y_title="log₁₀ MSE", title="Loss per step",
                                        y_lim=[-5, 1],  # axes with ticks before the first run
                                        height=280, scale=2, elem_id="sincos-loss")
            extra_plot = gr.Plot(label="Extrapolation on unseen t", show_label=False, elem_id="sincos-extra")
            gif_file = gr.File(label="The animation (GIF)", interactive=False, elem_id="sincos-gif")

    preset.change(_preset_values, preset, [cell, hidden, lr, steps, window, seed_nb, decay], api_name=False,
                  queue=False)

    start.click(partial(run, service), [cell, hidden, lr, steps, window, seed_nb, decay, every, fps, control],
                [fit_plot, loss_plot, status, extra_plot, gif_file, control], api_name="sincos",
                concurrency_id="sincos", concurrency_limit=4, show_progress_on=[status])
    # Stop sets a flag rather than cancels=[…]: a stopped run still ends with its extrapolation and GIF.
    stop.click(request_stop, control, status, api_name="sincos_stop", queue=False)
