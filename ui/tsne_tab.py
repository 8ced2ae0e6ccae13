"""t-SNE tab: seed 000's "Visualize last layer" for any model, explorable, with your drawing placed in it."""

from __future__ import annotations

import threading
from functools import partial
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np

from mnist_demo.background import TRAIN_NICE
from mnist_demo.checkpoints import checkpoint_path
from mnist_demo.plots import tsne as plots_tsne
from mnist_demo.service import Service
from mnist_demo.session import SESSION_PREFIX, VisitorSession

from .common import on_open, upscale
from .errors import friendly_errors
from .warm_up import WarmUps

if TYPE_CHECKING:  # mnist_demo.tsne.algorithms imports openTSNE and scikit-learn (~2 s): loaded on the first map
    from mnist_demo.tsne.cache import TsneMaps
    from mnist_demo.tsne.maps import TsneMap

INTRO = ("Each point is one of the first N test digits, placed by **t-SNE** so that digits the model's *last "
         "hidden layer* sees as similar land close together — seed 000's “Visualize last layer”. Points are "
         "drawn as their true digit in the seed's rainbow colours; ringed points are ones the model gets wrong. "
         "A first map of 10,000 points takes about 10–15 s; after that it comes from the cache.")
GROUPS = ["true digit", "predicted as", "mistakes on"]
NO_DRAWING = "✏️ **Draw a digit on the Draw tab first**, then press **Place my drawing**."
GALLERY_SIZE = 24


def _pct(x: float) -> str:
    return f"{x:.1%}"


class LazyMaps:
    """The tab's TsneMaps, made on the first map: importing openTSNE stays out of the app's start."""

    def __init__(self) -> None:
        self._maps: TsneMaps | None = None
        self._lock = threading.Lock()

    def __call__(self) -> TsneMaps:
        with self._lock:
            if self._maps is None:
                from mnist_demo.tsne.cache import TsneMaps

                self._maps = TsneMaps(nice=TRAIN_NICE)  # a 10k map is ~13 s of CPU: visitors' predictions first
            return self._maps


# Handlers: module-level, bound to the service and the tab's LazyMaps in build_tsne_tab (functools.partial),
# testable without a server.
def get_map(service: Service, maps: LazyMaps, name: str, n: Any, perplexity: Any,
                session: VisitorSession | None, progress: gr.Progress | None = None) -> TsneMap:
    """The map of `name`'s last layer for (n, perplexity) rounded to the sliders' steps (from the cache if it can)."""
    from mnist_demo.tsne.cache import checkpoint_fingerprint, snap_map_request

    model, _ = service.resolve(name, session)
    n_pts, perp = snap_map_request(n, perplexity)  # any float would make (and cache) one more map
    own = name.startswith(SESSION_PREFIX)
    ckpt = None if own else checkpoint_fingerprint(checkpoint_path(name, service.registry.directory))
    if progress is not None:
        progress(0.1, desc=f"t-SNE of {n_pts:,} last-layer vectors (cached after the first time)…")
    return maps().get(model, name, n_pts, perp, ckpt)


def _summary(tm: TsneMap) -> str:
    from mnist_demo.tsne.algorithms import knn_label_accuracy

    how = {"computed": f"computed in {tm.seconds:.1f} s (cached now)", "memory": "from the cache",
           "disk": "from the disk cache"}[tm.source]
    wrong = int((tm.preds != tm.labels).sum())
    return (f"**{tm.name}** · {tm.n:,} test digits · perplexity {tm.perplexity:g} · {how}.  \n"
            f"The model gets {_pct(tm.accuracy)} of these right ({wrong} ringed mistakes); "
            f"{_pct(knn_label_accuracy(tm.embedding, tm.labels))} of the points share the true digit of "
            "most of their 10 nearest neighbours in the map.")


@friendly_errors
def show_map(service: Service, maps: LazyMaps, name: str, n: Any, perplexity: Any, style: str,
             session: VisitorSession | None, progress: gr.Progress = gr.Progress()) -> tuple:
    """The map and a summary of it."""
    tm = get_map(service, maps, name, n, perplexity, session, progress)
    fig = plots_tsne.tsne_map(tm.embedding, tm.labels, tm.preds, style,
                              title=f"Visualize last layer · {tm.name} · {tm.n:,} test digits")
    return fig, _summary(tm)


@friendly_errors
def show_group(service: Service, maps: LazyMaps, name: str, n: Any, perplexity: Any, style: str, digit: Any,
               group: str, session: VisitorSession | None, progress: gr.Progress = gr.Progress()) -> tuple:
    """One group of points (true digit, predicted as, mistakes on) highlighted, and its most typical digits."""
    tm = get_map(service, maps, name, n, perplexity, session, progress)
    d = int(digit)
    if group not in GROUPS:
        raise ValueError(f"choose one of: {', '.join(GROUPS)}")
    sel = {"true digit": tm.labels == d, "predicted as": tm.preds == d,
           "mistakes on": (tm.labels == d) & (tm.preds != d)}[group]
    idx = np.nonzero(sel)[0]
    test = service.dataset(train=False)
    if idx.size:  # most typical first: closest to the group's middle in the map
        centre = np.median(tm.embedding[idx], axis=0)
        idx = idx[np.argsort(((tm.embedding[idx] - centre) ** 2).sum(1))]
    items = [(upscale(test.images[i].numpy(), 84),
              f"true {tm.labels[i]}" + ("" if tm.preds[i] == tm.labels[i] else f" → {tm.preds[i]}"))
             for i in idx[:GALLERY_SIZE]]
    fig = plots_tsne.tsne_map(tm.embedding, tm.labels, tm.preds, style, highlight=sel,
                              title=f"{tm.name}: {group} {d} ({idx.size} of {tm.n:,} points)")
    msg = (f"{idx.size} of {tm.n:,} points: **{group} {d}**, highlighted in the map; the gallery shows the "
           f"{min(idx.size, GALLERY_SIZE)} nearest the middle of the group.") if idx.size else \
        f"No point is **{group} {d}** among these {tm.n:,} test digits."
    return fig, items, msg


@friendly_errors
def place(service: Service, maps: LazyMaps, value: Any, name: str, n: Any, perplexity: Any, style: str,
          session: VisitorSession | None, progress: gr.Progress = gr.Progress()) -> tuple:
    """The drawing placed in the map (a star), with its 8 nearest test digits in the last layer."""
    reading = service.read_drawing(value, name, session)
    if reading is None:
        return gr.update(), [], NO_DRAWING
    from mnist_demo.tsne.maps import place_image

    pre = reading.pre
    tm = get_map(service, maps, name, n, perplexity, session, progress)
    p = place_image(tm, reading.model, pre.image)
    test = service.dataset(train=False)
    near = [(upscale(pre.image, 84), f"yours → {p.pred}")]
    near += [(upscale(test.images[i].numpy(), 84), f"true {tm.labels[i]}") for i in p.neighbours]
    labels = tm.labels[p.neighbours]
    agree = int((labels == p.pred).sum())
    fig = plots_tsne.tsne_map(tm.embedding, tm.labels, tm.preds, style, drawing_xy=p.xy,
                              drawing_label=f"your drawing ({p.pred})",
                              title=f"Your drawing in the map of {tm.name}")
    msg = (f"**{name}** reads your drawing as **{p.pred}** ({_pct(p.confidence)}). Its 8 nearest test digits "
           f"in the last layer are {', '.join(str(v) for v in labels)} — {agree} of 8 agree with that reading "
           f"(distances {p.distances[0]:.1f}–{p.distances[-1]:.1f}). The star sits where its 10 nearest test "
           "digits lie in the map.")
    return fig, near, msg


def refresh(service: Service, name: str, session: VisitorSession | None) -> Any:
    """The models this visitor may map (the committed ones and their own), keeping the current one."""
    choices = service.model_names(session)
    return gr.update(choices=choices, value=name if name in choices else (choices[0] if choices else None))


def build_tsne_tab(service: Service, state: gr.State, pad: gr.Sketchpad, tab: gr.Tab | None = None,
                   warm_ups: WarmUps | None = None) -> None:
    """Lay out the t-SNE tab; `pad` is the Draw tab's sketchpad (the drawing to place in the map). Opening `tab`
    draws the chosen map; `warm_ups` gets the default map computed in the background after the app starts."""
    maps = LazyMaps()  # made on the first map: importing openTSNE stays out of the app's start
    show_map_, show_group_, place_ = (partial(fn, service, maps) for fn in (show_map, show_group, place))
    names = service.model_names()
    default = "cnn" if "cnn" in names else (names[0] if names else None)

    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            model = gr.Dropdown(names, value=default, label="Model (yours appear after a training run)",
                                elem_id="tsne-model")
            points = gr.Slider(500, 10_000, value=500, step=500, label="Test digits in the map", elem_id="tsne-n")
            perplexity = gr.Slider(5, 100, value=30, step=1, label="Perplexity (about how many neighbours count)",
                                   elem_id="tsne-perplexity")
            style = gr.Radio(list(plots_tsne.STYLES), value="seed", label="Style",
                             info="seed = each point drawn as its digit; scatter = dots")
            go = gr.Button("Draw the map", variant="primary", elem_id="tsne-go")
            status = gr.Markdown("Pick a model and press **Draw the map**.", elem_id="tsne-status")
        with gr.Column(scale=2, min_width=380):
            plot = gr.Plot(label="t-SNE of the last layer", show_label=False, elem_id="tsne-plot")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            gr.Markdown("**Look inside a cluster**")
            digit = gr.Dropdown([str(d) for d in range(10)], value="4", label="Digit")
            group = gr.Radio(GROUPS, value="true digit", label="Which points")
            show = gr.Button("Show these digits", elem_id="tsne-show")
            gr.Markdown("**Your drawing in the map**")
            place_btn = gr.Button("Place my drawing", elem_id="tsne-place")
        with gr.Column(scale=2, min_width=380):
            gallery = gr.Gallery(label="Test digits (true label → the model's reading when it differs)", columns=6,
                                 height=320, object_fit="contain",
                                 elem_id="tsne-gallery")

    common = {"concurrency_id": "tsne", "concurrency_limit": 1, "show_progress_on": [status]}
    go.click(show_map_, [model, points, perplexity, style, state], [plot, status], api_name="tsne_map", **common)
    on_open(tab, show_map_, [model, points, perplexity, style, state], [plot, status], concurrency_id="tsne",
            concurrency_limit=1, show_progress="full", show_progress_on=[status])
    if warm_ups is not None and default is not None:
        warm_ups.add("t-SNE default map", partial(get_map, service, maps, default, 500, 30, None))
    show.click(show_group_, [model, points, perplexity, style, digit, group, state], [plot, gallery, status],
               api_name="tsne_cluster", **common)
    place_btn.click(place_, [pad, model, points, perplexity, style, state], [plot, gallery, status],
                    api_name="tsne_place", **common)
    # Visitors' own models join the list when they open it (training happens on another tab).
    model.focus(partial(refresh, service), [model, state], model, api_name=False, queue=False)
