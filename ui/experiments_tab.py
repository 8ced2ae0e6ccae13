"""The seeds' experiments: LeNet-5 taken apart (seed 001) and the pixel-shuffle test (seed 004)."""

from __future__ import annotations

import functools
import time
from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from mnist_demo.checkpoints import CheckpointError
from mnist_demo.data import load_mnist
from mnist_demo.experiments.lenet_anatomy import (
    TABLE_COLUMNS,
    WHY_CONV_IS_FC,
    first_layer_filters,
    first_layer_maps,
    logit_difference,
    shipped_tables,
    transfer_c5_to_fc,
)
from mnist_demo.experiments.shuffle import (
    LIVE_RECIPE,
    ShuffleResult,
    permutation_invariance,
    pixel_permutation,
    run_experiment,
    shuffle_images,
)
from mnist_demo.experiments.shuffle_results import ResultsError, ShippedResults, load_results
from mnist_demo.models import build_model
from mnist_demo.plots import experiments as pe
from mnist_demo.service import Service

from .common import DRAW_FIRST, EXAMPLE_NOTE, on_open, pad_or_example, rendered
from .errors import friendly_errors, friendly_stream

LENET_VARIANTS = {"lenet5": "C5 as a 5×5 convolution (16 → 120 maps)", "lenet5_fc": "C5 as Linear(400 → 120)"}
SHUFFLE_COLUMNS = ["model", "original pixels (%)", "shuffled pixels (%)", "change (points)", "seeds",
                   "seed-to-seed spread of the change (points)"]
LIVE_SECONDS = 75.0  # the live re-run's time limit (lower in public mode if the service's limit is lower)


# ---------- LeNet-5 ----------
def _lenet(service: Service, name: str) -> tuple[Any, dict[str, Any] | None]:
    """The committed model and its metadata, or a fresh model (same shapes) and None when the file is missing."""
    try:
        return service.resolve(name)
    except CheckpointError:
        return build_model(name).eval(), None


def _lenet_header(name: str, meta: dict[str, Any] | None, params: int) -> str:
    if meta is None:
        return (f"### `{name}`: {LENET_VARIANTS[name]}\n{params:,} parameters · checkpoint unavailable "
                "(table traced from a fresh model)")
    acc = meta.get("metrics", {}).get("accuracy")
    recipe = meta.get("metrics", {}).get("recipe", "?")
    acc_text = f"{acc:.2%} on the 10,000 test images" if isinstance(acc, float) else "accuracy not recorded"
    return (f"### `{name}`: {LENET_VARIANTS[name]}\n**{params:,} parameters** · committed checkpoint: "
            f"**{acc_text}** ({recipe} recipe)")


# Handlers: module-level, bound to the service (and the shipped results) in the build functions
# (functools.partial), testable without a server.
@friendly_errors
def run_proof(service: Service, progress: gr.Progress = gr.Progress()) -> str:
    """The committed conv LeNet-5 copied into the Linear variant: the largest logit difference on the test set."""
    progress(0.1, desc="Running both networks on the 10,000 test images…")
    conv, _ = service.resolve("lenet5")
    fc = transfer_c5_to_fc(conv)
    eq = logit_difference(conv, fc, load_mnist(train=False), service.device)
    verdict = "✅ the same network" if eq.max_abs_diff <= 1e-4 else "❌ NOT the same network"
    return (f"**{verdict}.** Every weight of the committed `lenet5` was copied into a fresh `LeNet5FC`, C5's "
            f"(120, 16, 5, 5) kernel reshaped to a (120, 400) matrix. Over {eq.n_images:,} test images × 10 "
            f"logits the largest difference is **{eq.max_abs_diff:.1e}** (the logits themselves reach "
            f"±{eq.max_abs_logit:.1f}; a difference this size is float32 rounding, since the two layers add the "
            f"same 400 products in a different order), and both pick the same digit on "
            f"{eq.same_predictions:,} of {eq.n_images:,} images. (The committed `lenet5_fc` above was "
            "trained separately, which is why its accuracy differs a little.)")


@friendly_errors
def c1_for_drawing(service: Service, value: Any, name: str) -> tuple:
    """C1's 6 filters of the chosen network, and its 6 feature maps for the drawing."""
    if name not in LENET_VARIANTS:
        raise ValueError(f"choose one of {', '.join(LENET_VARIANTS)}")
    model, _ = _lenet(service, name)
    filters = pe.filters_grid(first_layer_filters(model), title=f"{name}: C1's 6 filters (5×5 weights)")
    pre = service.preprocess(value)
    if pre is None:
        return filters, None, DRAW_FIRST
    maps = first_layer_maps(model, pre.image)
    strongest = int(abs(maps).reshape(len(maps), -1).max(1).argmax()) + 1
    return (filters, pe.feature_maps(pre.image, maps, title=f"{name}: C1's feature maps for your drawing"),
            f"Red = the filter's pattern is there, blue = its opposite. Map {strongest} responds most "
            "strongly to your drawing.")


@friendly_errors
def opened(service: Service, value: Any, name: str) -> tuple:
    """C1 for the drawing, or for the example 7 while the pad is blank."""
    value, example = pad_or_example(service, value)
    filters, maps, msg = c1_for_drawing(service, value, name)
    return filters, maps, (EXAMPLE_NOTE + "  \n" + msg) if example else msg


def build_lenet_tab(service: Service, state: gr.State, pad: gr.Sketchpad, tab: gr.Tab | None = None) -> None:
    """LeNet-5 both ways: traced layer tables, the C5 conv == Linear proof, C1's filters and maps for a drawing
    (opening `tab` shows them for the drawing, or for an example 7 while the pad is blank)."""
    del state  # the tab shows committed models only
    gr.Markdown("Seed 001 asks where LeNet-5's **120** comes from. The tables below are traced from the real "
                "networks (shapes measured by running them, not typed in): MNIST's 28×28 is padded by 2 to "
                "act like the paper's 32×32, then 6@28×28 → 6@14×14 → 16@10×10 → 16@5×5 → 120.")
    tables = shipped_tables()  # traced by `python -m mnist_demo.experiments.lenet_anatomy`: no torch.fx at app start
    with gr.Row(equal_height=False):
        for name in LENET_VARIANTS:
            _model, meta = _lenet(service, name)
            rows = tables[name]
            with gr.Column(min_width=420):
                gr.Markdown(_lenet_header(name, meta, rows[-1].parameters))
                gr.Dataframe(pd.DataFrame([r.as_list() for r in rows], columns=list(TABLE_COLUMNS)),
                             interactive=False, wrap=True, elem_id=f"layers-{name}", max_height=1200,
                             column_widths=["12%", "20%", "14%", "13%", "41%"])
    gr.Markdown(f"**Why a 5×5 convolution on a 5×5 input is a fully connected layer.** {WHY_CONV_IS_FC}")
    prove = gr.Button("Prove it: copy the trained conv LeNet-5 into the Linear variant and compare logits",
                      elem_id="lenet-prove")
    proof = gr.Markdown("", elem_id="lenet-proof")
    prove.click(partial(run_proof, service), None, proof, api_name="lenet_equivalence", concurrency_id="evaluate",
                concurrency_limit=2, show_progress_on=[proof])

    gr.Markdown("### C1 up close: 6 filters of 5×5 weights, and what each one sees in your drawing\n"
                "Draw a digit on the **Draw** tab, then press the button.")
    with gr.Row():
        variant = gr.Radio(list(LENET_VARIANTS), value="lenet5", label="Network", elem_id="lenet-variant")
        show = gr.Button("Show C1 for my drawing", variant="primary", elem_id="lenet-maps")
    c1_msg = gr.Markdown("", elem_id="lenet-maps-msg")
    filters_plot = gr.Plot(label="C1 filters", show_label=False, elem_id="lenet-filters")
    maps_plot = gr.Plot(label="C1 feature maps (before pooling and ReLU)", show_label=False,
                        elem_id="lenet-feature-maps")
    show.click(partial(c1_for_drawing, service), [pad, variant], [filters_plot, maps_plot, c1_msg], api_name="lenet_c1",
               concurrency_id="predict", concurrency_limit=4, show_progress_on=[c1_msg])
    on_open(tab, partial(opened, service), [pad, variant], [filters_plot, maps_plot, c1_msg],
            concurrency_id="lenet_open", concurrency_limit=2)


# ---------- pixel shuffle ----------
def shuffle_table(result: ShuffleResult) -> pd.DataFrame:
    """The four accuracies as a table, one row per model."""
    rows = []
    for m in result.models():
        rows.append([m, round(100 * result.accuracy(m, "original"), 2), round(100 * result.accuracy(m, "shuffled"), 2),
                     round(-result.drop(m), 2), len(result.runs_of(m)), round(result.drop_spread(m), 2)])
    return pd.DataFrame(rows, columns=SHUFFLE_COLUMNS)


def shuffle_chart(result: ShuffleResult, title: str) -> Any:
    """Grouped bar chart of a result (means, with single seeds as dots)."""
    ms = result.models()
    return pe.shuffle_accuracy_bars(
        ms, [result.accuracy(m, "original") for m in ms], [result.accuracy(m, "shuffled") for m in ms],
        [[r.original for r in result.runs_of(m)] for m in ms], [[r.shuffled for r in result.runs_of(m)] for m in ms],
        title=title)


def shuffle_words(result: ShuffleResult, what: str) -> str:
    """The measured numbers stated in words."""
    parts = []
    for m in result.models():
        o, s, d = result.accuracy(m, "original"), result.accuracy(m, "shuffled"), result.drop(m)
        change = (f"loses **{d:.2f} points**" if d >= 0.005 else f"gains {-d:.2f} points" if d <= -0.005
                  else "changes by **0.00 points**")
        spread = result.drop_spread(m)
        noise = f", seed-to-seed spread of the change ±{spread:.2f}" if spread else ""
        parts.append(f"- **{m}**: {o:.2%} on original pixels, {s:.2%} on shuffled pixels — it {change}{noise}.")
    n_seeds = len({r.seed for r in result.runs})
    text = (f"**{what}** ({result.recipe.describe()}; mean of {n_seeds} seed{'s' if n_seeds > 1 else ''}, "
            f"scored on the 10,000 test images):\n" + "\n".join(parts))
    if not result.complete:
        text += "\n\n⏱️ Stopped at the time limit: numbers come from the steps that ran (same steps for both orders)."
    ms = result.models()
    if "simple_cnn" in ms and "mlp" in ms:
        text += (f"\n\nShuffling costs the CNN {result.drop('simple_cnn'):.1f} points and the MLP "
                 f"{result.drop('mlp'):.1f}. The CNN's 5×5 kernels and pooling look for strokes among "
                 "*neighbouring* pixels; after the shuffle, neighbours are unrelated, so those assumptions stop "
                 "helping (its fully connected layers still learn something). The MLP has one weight per pixel "
                 "and no notion of neighbours: a fixed reordering of the pixels is just a reordering of its "
                 "weights, so what is left is seed-to-seed noise.")
    return text


def shipped_plots(shipped: ShippedResults | None) -> tuple:
    """The shipped results' chart and before/after examples, encoded once (build_shuffle_tab caches them)."""
    if shipped is None:
        return None, None
    perm = pixel_permutation(shipped.perm_seed)
    return (rendered(shuffle_chart(shipped.shipped, "Shipped results")),
            rendered(pe.shuffle_examples(shipped.example_images, shuffle_images(shipped.example_images, perm),
                                         shipped.example_labels)))


@friendly_errors
def run_invariance(service: Service, shipped: ShippedResults | None, progress: gr.Progress = gr.Progress()) -> str:
    """The committed MLP with its weights moved with the pixels: the largest logit difference on shuffled images."""
    progress(0.1, desc="Scoring the committed MLP on original and shuffled test images…")
    mlp, _ = service.resolve("mlp")
    seed = shipped.perm_seed if shipped else LIVE_RECIPE.perm_seed
    diff = permutation_invariance(mlp, load_mnist(train=False), pixel_permutation(seed), service.device)
    return (f"Take the committed `mlp`, reorder the columns of its first weight matrix with the same "
            f"permutation as the pixels, and feed it the shuffled test images: over 10,000 images × 10 logits "
            f"the largest difference from the original network on the original images is **{diff:.1e}** "
            "(float32 rounding). For a fully connected layer a pixel's position is just a column index, so "
            "every network trainable on original pixels has an exact twin on shuffled pixels.")


@friendly_stream
def run_live(service: Service, limit: float, progress: gr.Progress = gr.Progress()) -> Any:
    """The experiment re-run live within `limit` seconds: progress messages, then the chart, table and words."""
    keep = gr.update()
    last_yield = 0.0
    progress(0.0, desc="Loading MNIST…")
    for ev in run_experiment(LIVE_RECIPE, device=service.device, max_seconds=limit):
        progress(ev.progress, desc=ev.message)
        if ev.result is not None:
            res = ev.result
            yield (shuffle_chart(res, "Live re-run"), shuffle_table(res), shuffle_words(res, "Live re-run"),
                   f"Live re-run finished in {res.seconds:.0f} s. A short run on a subset is noisier than the "
                   "shipped one, especially for the 8-unit MLP; the shipped numbers are the measurement.")
        elif time.perf_counter() - last_yield > 0.5 or ev.message.endswith("test images"):
            last_yield = time.perf_counter()
            yield keep, keep, keep, f"⏳ {ev.message} ({ev.elapsed:.0f} s)"


def build_shuffle_tab(service: Service, state: gr.State, pad: gr.Sketchpad, tab: gr.Tab | None = None) -> None:
    """The pixel-shuffle experiment: instant from the shipped results, re-runnable live within a time limit."""
    del state, pad  # the experiment does not depend on the visitor or the drawing
    try:
        shipped = load_results()
    except ResultsError as exc:
        shipped = None
        gr.Markdown(f"⚠️ {exc}")
    gr.Markdown("Seed 004 suggests an experiment: reorder the 784 pixels of every image (train and test) with "
                "**one fixed random permutation**, then train the small CNN (`simple_cnn`, 6,422 parameters) and "
                "the fully connected `mlp` (784→8→8→10, 6,442 parameters) on original and on shuffled pixels. "
                "Each pair starts from the same initial weights and sees the same batches, so the pixel order is "
                "the only difference.")
    with gr.Row(equal_height=False):
        chart = gr.Plot(label="Test accuracy", elem_id="shuffle-chart", show_label=False)
        with gr.Column():
            table = gr.Dataframe(shuffle_table(shipped.shipped) if shipped else None, headers=SHUFFLE_COLUMNS,
                                 interactive=False, wrap=True, label="The four accuracies", elem_id="shuffle-table",
                                 column_widths=["17%", "15%", "15%", "14%", "10%", "29%"])
            words = gr.Markdown(shuffle_words(shipped.shipped, "Shipped results") if shipped else "",
                                elem_id="shuffle-words")
    examples = gr.Plot(label="Before and after the shuffle", show_label=False, elem_id="shuffle-examples",
                       visible=shipped is not None)

    # drawn when the tab is first opened (1 s of matplotlib), not while the app starts; then reused
    on_open(tab, functools.cache(partial(shipped_plots, shipped)), None, [chart, examples],
            concurrency_id="experiment_open", concurrency_limit=2)
    limit = min(LIVE_SECONDS, service.limits.max_seconds)
    with gr.Row():
        prove = gr.Button("Why the MLP can't tell: move its weights with the pixels", elem_id="shuffle-prove")
        rerun = gr.Button(f"Re-run live (≤ {limit:.0f} s, {LIVE_RECIPE.train_size:,} training images, "
                          f"{len(LIVE_RECIPE.train_seeds)} seeds)", variant="primary", elem_id="shuffle-rerun")
        stop = gr.Button("Stop", variant="stop", elem_id="shuffle-stop")
    status = gr.Markdown("", elem_id="shuffle-status")
    prove.click(partial(run_invariance, service, shipped), None, status, api_name="shuffle_invariance",
                concurrency_id="evaluate", concurrency_limit=2, show_progress_on=[status])
    ev = rerun.click(partial(run_live, service, limit), None, [chart, table, words, status], api_name="shuffle_rerun",
                     concurrency_id="experiment", concurrency_limit=1, show_progress_on=[status])
    stop.click(None, None, None, cancels=[ev])
