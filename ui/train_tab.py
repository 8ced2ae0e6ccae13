"""Train tab: a live training run with curves, then per-class accuracy, confusion and a download."""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import partial
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from mnist_demo.config import TrainConfig
from mnist_demo.models import CLASSIFIERS, get_spec
from mnist_demo.plots import charts
from mnist_demo.plots import explain as plots_explain
from mnist_demo.recorded_run import load_run
from mnist_demo.service import Service
from mnist_demo.session import VisitorSession

from .common import on_open, rendered
from .components import Number, Slider
from .errors import friendly_stream


def _recipe_values(name: str, recipe: str) -> tuple:
    cfg = get_spec(name).recipe(recipe)
    assert isinstance(cfg, TrainConfig)
    return cfg.epochs, cfg.batch_size, cfg.lr, cfg.optimizer


FIRST_STATUS = ("Pick a model and press **Start**. The seed's recipe for `cnn` takes about a quarter of a minute "
                "per epoch on a laptop CPU.")


# Handlers: module-level, bound to the service in build_train_tab (functools.partial), testable without a server.
def on_recipe(service: Service, name: str, which: str) -> tuple:
    """The recipe's epochs (within the public limit), batch size, learning rate and optimiser."""
    e, b, r, o = _recipe_values(name, which)
    return min(e, service.limits.max_epochs), b, r, o


@friendly_stream
def run(service: Service, n_other: int, name: str, which: str, ep: Any, bs: Any, rate: Any, optim: str, n: Any,
        drawing: Any, live: bool, session: VisitorSession, progress: gr.Progress = gr.Progress()) -> Any:
    """A live training run: curves, live map and the drawing's reading as it learns, then the scores and the file;
    `n_other` is the number of other tabs' model dropdowns the new model joins."""
    cfg = service.train_config(name, which, ep, bs, rate, optim, n)
    session = session or VisitorSession()  # created on first use; yielded as the state output below
    keep = gr.update()
    seen_evals, seen_frame = 0, -1
    for up in service.train_stream(name, cfg, session, drawing, live_map=bool(live)):
        frame = keep
        if up.tsne_frame is not None and up.tsne_frame.index != seen_frame:  # send only new maps
            seen_frame = up.tsne_frame.index
            frame = up.tsne_frame.image
        watch = keep
        if up.watch is not None and len(up.watch) != seen_evals:  # redraw only on a new evaluation step
            seen_evals = len(up.watch)
            watch = plots_explain.watch_figure(up.watch.steps, up.watch.probs)
        progress(up.progress, desc=up.status.split(" · ")[0])
        loss_df = pd.DataFrame({"step": up.steps, "loss": up.losses})
        acc_df = pd.DataFrame({"step": up.acc_steps, "accuracy": up.accs})
        if not up.done:
            yield (loss_df, acc_df, up.status, watch, frame, keep, keep, keep, keep, keep, keep,
                   *[keep] * n_other, session)
            continue
        res = up.result
        choices = service.model_names(session)
        dd = gr.update(choices=service.draw_choices(session), value=up.model_name)
        yield (loss_df, acc_df, up.status, watch, frame, str(up.tsne_gif) if up.tsne_gif else None,
               charts.per_class_bars(res.per_class),
               charts.confusion_matrix(res.confusion),
               charts.digit_grid(up.sample_images, up.sample_titles, ncols=5,
                                 title="10 predictions vs real labels"),
               str(up.checkpoint), dd, *[gr.update(choices=choices) for _ in range(n_other)], session)


def request_stop(session: VisitorSession) -> str:
    """Ask this visitor's training run to stop after the current step (the partial model is still kept)."""
    if session is None or not session.training:
        return "Nothing is training right now."
    session.stop.set()
    return "Stopping after the current step… the partial model will still be scored and kept."


def recorded_figures() -> tuple | None:
    """The recorded run with its per-digit bars and confusion matrix encoded (build_train_tab caches them)."""
    run = load_run()
    if run is None:
        return None
    return run, rendered(charts.per_class_bars(run["per_class"])), rendered(
        charts.confusion_matrix(np.asarray(run["confusion"])))


def show_recorded(figures: Callable[[], tuple | None], shown: str) -> tuple:
    """The recorded run's curves, words and charts while the tab shows its first status; else nothing changes."""
    got = figures() if shown == FIRST_STATUS else None
    if got is None:  # the visitor's own run is on screen (or nothing was shipped): leave the tab as it is
        return (gr.update(),) * 5
    run, bars, conf = got
    text = (f"**A recorded run**, to show what you will see: `{run['model']}` with the seed's recipe, "
            f"{run['epochs']:g} epoch on {run['train_size']:,} images ({run['optimizer']} lr {run['lr']:g}, "
            f"batch {run['batch_size']}), {run['seconds']:.0f} s on a 2-core CPU: **{run['accuracy']:.2%}** on "
            "the 10,000 test images. Press **Start** for your own run; it replaces these charts.")
    return (pd.DataFrame({"step": run["steps"], "loss": run["losses"]}),
            pd.DataFrame({"step": run["acc_steps"], "accuracy": run["accs"]}), text, bars, conf)


def build_train_tab(service: Service, state: gr.State, draw_model: gr.Dropdown,
                    other_models: list[gr.Dropdown], pad: gr.Sketchpad | None = None,
                    tab: gr.Tab | None = None) -> None:
    """Lay out the Train tab; a finished run adds the model to this visitor's dropdowns. Opening `tab` shows a
    recorded run (mnist_demo/results/train_run.json) until the visitor starts one."""
    lim = service.limits
    ep0, bs0, lr0, opt0 = _recipe_values("cnn", "seed")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            model = gr.Dropdown(list(CLASSIFIERS), value="cnn", label="Model", elem_id="train-model")
            recipe = gr.Radio(["seed", "best"], value="seed", label="Recipe",
                              info="seed = the tutorial's settings; best = ours (augmentation, one-cycle)")
            epochs = Number(value=min(ep0, lim.max_epochs), label=f"Epochs (≤ {lim.max_epochs:g}, fractions ok)",
                               minimum=0.01, maximum=lim.max_epochs, elem_id="epochs")
            batch = Number(value=bs0, label="Batch size", precision=0, minimum=1, maximum=lim.max_batch)
            lr = Number(value=lr0, label="Learning rate", minimum=1e-6, maximum=1.0)
            opt = gr.Dropdown(["adam", "adamw", "sgd"], value=opt0, label="Optimiser")
            size = Slider(100, lim.max_train_size, value=min(60_000, lim.max_train_size), step=100,
                             label="Training images", elem_id="train-size")
            live_map = gr.Checkbox(True, label="Live t-SNE of the last layer (seed 000), every 50 steps",
                                   elem_id="train-live-map")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="train-start")
                stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
        with gr.Column(scale=2, min_width=360):
            status = gr.Markdown(FIRST_STATUS, elem_id="train-status")
            with gr.Row():
                loss_plot = gr.LinePlot(x="step", y="loss", title="Training loss", height=260, elem_id="loss-plot")
                acc_plot = gr.LinePlot(x="step", y="accuracy", title="Test accuracy (2,000 images)", height=260,
                                       elem_id="acc-plot")
            with gr.Row():
                tsne_img = gr.Image(label="Last layer, t-SNE of 500 test digits (warm-started, off the training "
                                    "thread)", show_label=False, interactive=False, height=380, elem_id="train-tsne",
                                    buttons=[])
                tsne_gif = gr.File(label="The map's animation (GIF)", interactive=False, elem_id="train-tsne-gif")
            watch_plot = gr.Plot(label="Your drawing (Draw tab), read by the model as it learns", show_label=False,
                                 elem_id="watch-plot")
            with gr.Row():
                per_class = gr.Plot(label="Accuracy per digit (10,000 test images)", show_label=False)
                confusion = gr.Plot(label="Confusion matrix", show_label=False)
            samples = gr.Plot(label="10 predictions vs real labels", show_label=False)
            download = gr.File(label="Your checkpoint", interactive=False)

    for trig in (model.change, recipe.change):
        trig(partial(on_recipe, service), [model, recipe], [epochs, batch, lr, opt], api_name=False, queue=False)

    # The last output is the state itself: the first yield stores a new VisitorSession, so Stop can reach it.
    outs = [loss_plot, acc_plot, status, watch_plot, tsne_img, tsne_gif, per_class, confusion, samples, download,
            draw_model, *other_models, state]
    drawing = pad if pad is not None else gr.State(None)  # no pad: nothing to watch
    start.click(partial(run, service, len(other_models)),
                [model, recipe, epochs, batch, lr, opt, size, drawing, live_map, state], outs, api_name="train",
                concurrency_id="train", concurrency_limit=1 if lim.max_epochs <= 2 else 2,
                show_progress_on=[status])
    stop.click(request_stop, state, status, api_name="stop_training", queue=False)

    # the recorded run's charts are drawn when the tab is first opened, then reused
    on_open(tab, partial(show_recorded, functools.cache(recorded_figures)), status,
            [loss_plot, acc_plot, status, per_class, confusion], concurrency_id="train_open", concurrency_limit=2)
