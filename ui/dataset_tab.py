"""Dataset tab: one example, a 64-image grid with labels, browse by class, the mean of each digit."""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr

from mnist_demo.numbers import as_whole
from mnist_demo.plots import charts
from mnist_demo.service import Service

from .common import on_open, upscale
from .components import Number
from .errors import friendly_errors


# Handlers: module-level, bound to the service in build_dataset_tab (functools.partial), testable without a server.
@friendly_errors
def example(service: Service, index: Any, progress: gr.Progress = gr.Progress()) -> tuple:
    """Training image #index blown up, and its caption."""
    progress(0.1, desc="Loading MNIST…")
    tr = service.dataset(train=True)
    i = as_whole(index, "index", 0, len(tr) - 1)
    return upscale(tr.images[i].numpy(), 196), f"### Training image #{i}: label **{int(tr.labels[i])}**"


@friendly_errors
def grid(service: Service, seed: Any, progress: gr.Progress = gr.Progress()) -> Any:
    """A seeded batch of 64 with labels, as torchvision's make_grid shows it."""
    progress(0.1, desc="Loading MNIST…")
    imgs, labels = service.random_batch(as_whole(seed, "seed", 0, 2**31 - 1), 64)
    return charts.digit_grid(imgs / 255.0, [str(v) for v in labels], ncols=8,
                             title="A batch of 64 (as torchvision's make_grid shows it), with labels")


@friendly_errors
def by_class(service: Service, digit: Any, page: Any) -> list:
    """One page of 32 training images of `digit`."""
    d = as_whole(digit, "digit", 0, 9)
    p = as_whole(page, "page", 0, 200)
    return [(upscale(img, 84), cap) for img, cap in service.class_examples(d, 32, 32 * p)]


@friendly_errors
def means(service: Service, progress: gr.Progress = gr.Progress()) -> Any:
    """The mean image of each digit."""
    progress(0.1, desc="Averaging 60,000 images…")
    return charts.mean_digits(service.mean_images())


def build_dataset_tab(service: Service, tab: gr.Tab | None = None) -> None:
    """Lay out the Dataset tab and wire its events; opening `tab` shows the example image."""
    example_, grid_, by_class_, means_ = (partial(fn, service) for fn in (example, grid, by_class, means))
    with gr.Row():
        with gr.Column(scale=1, min_width=240):
            index = Number(value=0, precision=0, label="Training image index (0–59,999)", elem_id="ds-index")
            show = gr.Button("Show example", elem_id="ds-show")
            caption = gr.Markdown("The seed's first figure: training image #0 and its label.")
            img = gr.Image(label="Example", height=210, width=210, interactive=False, buttons=[], elem_id="ds-image")
        with gr.Column(scale=2, min_width=360):
            seed = Number(value=0, precision=0, label="Shuffle seed", elem_id="ds-seed")
            grid_btn = gr.Button("Draw a batch of 64", elem_id="ds-grid")
            grid_plot = gr.Plot(label="64 images with labels", show_label=False)
    with gr.Row():
        digit = gr.Radio([str(d) for d in range(10)], value="0", label="Browse a digit", elem_id="ds-digit")
        page = Number(value=0, precision=0, label="Page", minimum=0, maximum=200)
        digit_btn = gr.Button("Show this digit", elem_id="ds-class")
    gallery = gr.Gallery(label="Training images of this digit", columns=8, height=300, object_fit="contain")
    mean_btn = gr.Button("Mean image of each digit", elem_id="ds-means")
    mean_plot = gr.Plot(label="Means", show_label=False)
    show.click(example_, index, [img, caption], api_name="dataset_example", show_progress_on=[caption])
    on_open(tab, example_, index, [img, caption])
    grid_btn.click(grid_, seed, grid_plot, api_name="dataset_grid")
    for trig in (digit.change, page.change):
        trig(by_class_, [digit, page], gallery, api_name=False)
    digit_btn.click(by_class_, [digit, page], gallery, api_name="dataset_class")
    mean_btn.click(means_, None, mean_plot, api_name="dataset_means")
