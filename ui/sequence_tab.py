"""Sequence tabs: the sin→cos RNN fitting live (seed 002, regression) and the LSTM reading a digit row by row."""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mnist_demo import lstm_reader, plots_sequence
from mnist_demo.config import SinCosConfig
from mnist_demo.data import load_mnist
from mnist_demo.service import SESSION_PREFIX, Service, VisitorSession
from mnist_demo.sincos import LIMITS, PRESETS, SinCosFrame, config_from_values, fit_sin_to_cos, window_data

from .common import (
    DRAW_A_DIGIT,
    EXAMPLE_NOTE,
    Number,
    Slider,
    friendly_errors,
    friendly_stream,
    on_open,
    pad_or_example,
)

VIEW_WINDOWS = 8  # the live view and the GIF follow the last 8 windows (4 periods) instead of squeezing 100
MAX_GIF_FRAMES = 150
TARGET, PRED = "target cos(t)", "prediction"


class SinCosControl:
    """Per-visitor run flag and Stop request (a plain class: gradio would serialise a dataclass)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.running = False


@dataclass
class SinCosView:
    """What the sin→cos tab shows after one frame."""

    frame: SinCosFrame
    fit: pd.DataFrame  # t, value, series over the last VIEW_WINDOWS windows
    loss: pd.DataFrame  # step, log10_mse
    status: str
    extrapolation: Figure | None = None  # last view only
    gif: Path | None = None  # last view only


def auto_every(steps: int, fps: float, seconds: float = 10.0) -> int:
    """Show every step unless the animation would outlast `seconds` at `fps`."""
    return max(1, math.ceil(steps / max(1.0, fps * seconds)))


def frame_count(steps: int, every: int) -> int:
    """Updates a run of `steps` sends when it shows every `every`-th step (the last step is always shown)."""
    return math.ceil(steps / every)


def sincos_stream(cfg: SinCosConfig, every: int = 0, fps: float = 20.0, should_stop: Callable[[], bool] | None = None,
                  gif_dir: Path | None = None) -> Iterator[SinCosView]:
    """Views of a live fit, paced at `fps` (0 = as fast as possible); the last one has extrapolation and GIF.

    The GIF frames are rendered in the pauses between updates, so pacing hides their cost.
    """
    if not 0 <= fps <= 60:
        raise ValueError(f"frames per second must be from 0 to 60, got {fps}")
    every = int(every) if every else auto_every(cfg.steps, fps or 20.0)
    if every < 1:
        raise ValueError(f"show every k-th step needs k ≥ 1 (0 = auto), got {every}")
    n_frames = frame_count(cfg.steps, every)
    gif_every = math.ceil(n_frames / MAX_GIF_FRAMES)
    interval = 1.0 / fps if fps else 0.0
    animator = plots_sequence.SinCosAnimator()
    gif_frames: list[np.ndarray] = []
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = []
    render_s = 0.05  # running estimate of one GIF frame's render time
    ts: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    ps: list[np.ndarray] = []
    steps: list[int] = []
    losses: list[float] = []
    shown = 0
    next_at = time.perf_counter()
    for f in fit_sin_to_cos(cfg, should_stop):
        ts.append(f.t)
        ys.append(f.y)
        ps.append(f.y_hat)
        steps.append(f.step)
        losses.append(f.loss)
        if f.step % every and not f.done:
            continue
        t, y, p = (np.concatenate(a[-VIEW_WINDOWS:]) for a in (ts, ys, ps))
        title = f"{cfg.cell.upper()} {cfg.hidden} · step {f.step}/{f.total} · MSE {f.loss:.4f}"
        if shown % gif_every == 0 or f.done:
            pending.append((t, y, p, title))
        shown += 1
        status = (f"Step **{f.step}/{f.total}** · MSE {f.loss:.5f} · mean of last 10: "
                  f"{float(np.mean(losses[-10:])):.5f} · lr {f.lr:.4g}")
        # x in t itself: in units of π every frame of the periodic target would sit on the same pixels (the
        # window moves by exactly one unit) and the animation would look still; in t the curves slide.
        fit = fit_frame(t, y, p)
        loss = pd.DataFrame({"step": steps, "log10_mse": np.log10(np.maximum(losses, 1e-12))})
        if not f.done:
            # Use the wait before the next update to render GIF frames, one at a time while time allows.
            while pending and (not interval or time.perf_counter() + render_s < next_at):
                t0 = time.perf_counter()
                gif_frames.append(animator.render(*pending.pop(0)))
                render_s = 0.7 * render_s + 0.3 * (time.perf_counter() - t0)
                if not interval:
                    break
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_at = max(next_at + interval, time.perf_counter() - interval)  # no burst to catch up after a stall
            yield SinCosView(f, fit, loss, status)
            continue
        gif_frames.extend(animator.render(*args) for args in pending)
        ex = f.extrapolation
        k = min(4, len(ts))
        extra_fig = None
        if ex is not None:
            extra_fig = plots_sequence.sincos_extrapolation(
                np.concatenate(ts[-k:]), np.concatenate(ys[-k:]), np.concatenate(ps[-k:]), ex.t, ex.y, ex.y_hat, ex.mse)
        folder = gif_dir or Path(tempfile.mkdtemp(prefix="sincos_"))
        gif = plots_sequence.write_gif(gif_frames, folder / f"sin_to_cos_{cfg.cell}{cfg.hidden}_seed{cfg.seed}.gif",
                                       fps=fps or 20.0)
        why = "Stopped" if f.stopped else "Done"
        extra_txt = f" On {len(ex.t)} points of unseen t it scores MSE **{ex.mse:.5f}**." if ex else ""
        status = (f"{why} after {f.step} of {f.total} steps: last-step MSE {f.loss:.5f}, mean of the last 10 steps "
                  f"**{float(np.mean(losses[-10:])):.5f}** (first step {losses[0]:.3f}).{extra_txt}")
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield SinCosView(f, fit, loss, status, extra_fig, gif)


def target_preview(window: int) -> pd.DataFrame:
    """The target cos(t) over the live view's width, shown before the first run; the prediction is empty.

    Both series must be in the first value: the browser's chart fixes its colour legend from it, and a
    series that was not there is never drawn later (gradio 6.31 updates only the data).
    """
    t, _, y = (np.concatenate(a) for a in zip(*(window_data(k, window) for k in range(VIEW_WINDOWS))))
    return fit_frame(t, y, np.full_like(y, np.nan))


def fit_frame(t: np.ndarray, target: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """The fit plot's long-form table: (t, value, series) rows for the target, then the prediction."""
    return pd.DataFrame({"t": np.concatenate([t, t]), "value": np.concatenate([target, pred]),
                         "series": [TARGET] * len(t) + [PRED] * len(t)})


def warm_up_sincos() -> None:
    """One tiny fit: imports what the first Start needs (torch._dynamo via Adam, 1-4 s)."""
    for _attempt in range(3):
        try:
            for _ in fit_sin_to_cos(SinCosConfig(hidden=2, steps=1), extra_windows=0):
                pass
            return
        except Exception:  # e.g. another app being built in this process traces LeNet-5 right now; retry
            time.sleep(1.0)


def start_sincos_warm_up() -> threading.Thread:
    """Import what the first Start needs (torch._dynamo via Adam, 1-4 s) on a background thread.

    Call it once the whole app is built: torch.fx tracing (the LeNet-5 tab's layer tables) patches every
    module's __call__ process-wide while it runs, and a model run on another thread meanwhile fails.
    """
    thread = threading.Thread(target=warm_up_sincos, name="sincos-warm-up", daemon=True)
    thread.start()
    return thread


def _preset_values(name: str) -> tuple:
    c = PRESETS[name]
    return c.cell, c.hidden, c.lr, c.steps, c.window, c.seed, c.lr_decay


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

    @friendly_stream
    def run(c: str, h: Any, rate: Any, n: Any, w: Any, s: Any, d: Any, k: Any, speed: Any,
            ctl: SinCosControl | None, progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:
        cfg = config_from_values(c, h, rate, n, w, s, d)
        ctl = ctl if isinstance(ctl, SinCosControl) else SinCosControl()  # yielded as the state output
        if ctl.running:
            raise RuntimeError("a fit is already running in this tab; stop it or wait for it to finish")
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

    start.click(run, [cell, hidden, lr, steps, window, seed_nb, decay, every, fps, control],
                     [fit_plot, loss_plot, status, extra_plot, gif_file, control], api_name="sincos",
                     concurrency_id="sincos", concurrency_limit=4, show_progress_on=[status])
    # Stop sets a flag rather than cancels=[…]: a stopped run still ends with its extrapolation and GIF.

    def request_stop(ctl: SinCosControl | None) -> str:
        if not isinstance(ctl, SinCosControl) or not ctl.running:
            return "Nothing is running."
        ctl.stop.set()
        return "Stopping after this step…"

    stop.click(request_stop, control, status, api_name="sincos_stop", queue=False)


# ---------- LSTM reader ----------

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

    def refresh(session: VisitorSession | None, current: str | None) -> Any:
        choices = _lstm_names(service, session)
        return gr.update(choices=choices, value=current if current in choices else (choices[0] if choices else None))

    model.focus(refresh, [state, model], model, api_name=False, queue=False)

    def resolve(name: str | None, session: VisitorSession | None) -> Any:
        if not name:
            raise ValueError("no LSTM model is available: train one on the Train tab "
                             "(or rebuild the committed one with python -m mnist_demo.train --model lstm)")
        return service.resolve(name, session)[0]

    def show(img: np.ndarray, probs: np.ndarray, text: str) -> tuple:
        return (plots_sequence.row_highlight(img, 28), _label(probs[-1]),
                plots_sequence.rows_heatmap(probs), text, 28, {"image": img, "probs": probs})

    @friendly_errors
    def read_drawing(value: Any, name: str, session: VisitorSession | None) -> tuple:
        net = resolve(name, session)
        pre = service.preprocess(value)
        if pre is None:
            return None, DRAW_A_DIGIT, None, "✏️ **Draw a digit** on the Draw tab first.", 28, None
        probs = lstm_reader.row_probabilities(net, pre.image)
        return show(pre.image, probs, _reading_text(probs, "Your drawing"))

    @friendly_errors
    def read_test_digit(i: Any, name: str, session: VisitorSession | None) -> tuple:
        net = resolve(name, session)
        img, true = lstm_reader.pick_test_digit(load_mnist(train=False), i)
        probs = lstm_reader.row_probabilities(net, img)
        return show(img, probs, _reading_text(probs, f"Test image #{int(i)} (a {true})"))

    def at_row(r: Any, rd: dict | None) -> tuple:
        if not rd:
            return gr.update(), gr.update()
        k = int(min(max(int(float(r or 0)), 0), 28))
        probs = rd["probs"][k - 1] if k else np.full(10, 0.1)
        return plots_sequence.row_highlight(rd["image"], k), _label(probs)

    def play_rows(rd: dict | None) -> Iterator[tuple]:
        if not rd:
            raise gr.Error("Read a drawing or a test digit first.")
        for k in range(1, 29):
            img, lab = at_row(k, rd)
            yield img, lab, k
            time.sleep(0.12)

    @friendly_errors
    def accuracy_curve(name: str, session: VisitorSession | None) -> tuple:
        net = resolve(name, session)
        test = load_mnist(train=False)
        acc = lstm_reader.accuracy_by_rows(net, test)
        half = int(np.argmax(acc >= 0.5)) + 1 if (acc >= 0.5).any() else None
        text = (f"With all 28 rows **{name}** scores {acc[-1]:.2%}; after 14 rows (the top half) {acc[13]:.2%}"
                + (f"; it passes 50% after {half} rows." if half else "."))
        return plots_sequence.k_rows_accuracy(acc, len(test)), text

    reading_outs = [image, label, heat, message, row, reading]
    common = dict(concurrency_id="lstm", concurrency_limit=4, show_progress="minimal")
    read_pad.click(read_drawing, [pad, model, state], reading_outs, api_name="lstm_read", **common)

    @friendly_errors
    def opened(value: Any, name: str, session: VisitorSession | None) -> tuple:
        value, example = pad_or_example(service, value)
        out = read_drawing(value, name, session)
        return (*out[:3], EXAMPLE_NOTE + "  \n" + out[3], *out[4:]) if example else out

    on_open(tab, opened, [pad, model, state], reading_outs, concurrency_id="lstm", concurrency_limit=4)
    read_test.click(read_test_digit, [index, model, state], reading_outs, api_name="lstm_read_test", **common)
    row.input(at_row, [row, reading], [image, label], api_name="lstm_row", trigger_mode="always_last",
              show_progress="hidden")
    play.click(play_rows, reading, [image, label, row], api_name="lstm_play", show_progress="hidden",
               concurrency_id="lstm_play", concurrency_limit=8)
    acc_btn.click(accuracy_curve, [model, state], [acc_plot, acc_text], api_name="lstm_accuracy",
                  show_progress_on=[acc_text], **{k: v for k, v in common.items() if k != "show_progress"})
