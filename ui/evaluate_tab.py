"""Evaluate tab: accuracy, per-class bars, confusion, mistakes, the seed's 2×5 grid, all models compared."""

from __future__ import annotations

from functools import partial

import gradio as gr
import numpy as np
import pandas as pd

from mnist_demo.checkpoints import checkpoint_path
from mnist_demo.models import CLASSIFIERS, get_spec
from mnist_demo.plots import charts
from mnist_demo.recorded_run import shipped_confusion
from mnist_demo.registry import PEN_METRIC
from mnist_demo.service import Service
from mnist_demo.session import VisitorSession
from mnist_demo.trust.facade import Trust

from .common import on_open
from .errors import friendly_errors
from .trust_tab import reliability_figure

COMPARE_COLS = ["model", "seed", "params", "MNIST test accuracy (%)", "real pen, unseen writers (%)",
                "inference ms/image", "recipe"]
PICK = "Pick a model and press **Evaluate**."


def recorded_rows(service: Service) -> list[list]:
    """The comparison table from what the committed checkpoints recorded (no test set, no timing: ms is None)."""
    rows = []
    for name in service.model_names():
        model, meta = service.resolve(name)
        m = meta.get("metrics", {})
        acc, pen = m.get("accuracy"), m.get(PEN_METRIC)
        seed = get_spec(name).seed_file if name in CLASSIFIERS else "—"
        rows.append([name, seed, sum(p.numel() for p in model.parameters()),
                     round(acc * 100, 2) if isinstance(acc, float) else None,
                     round(pen * 100, 2) if isinstance(pen, float) else None, None, m.get("recipe", "?")])
    return rows


# Handlers: module-level, bound to the service in build_evaluate_tab (functools.partial), testable without a server.
@friendly_errors
def run(service: Service, name: str, session: VisitorSession, progress: gr.Progress = gr.Progress()) -> tuple:
    """Score `name` on the 10,000 test images: summary, per-digit bars, confusion, worst mistakes, the seed's grid."""
    progress(0.1, desc="Scoring 10,000 test images (MNIST loads on first use)…")
    res, ms = service.evaluation(name, session)
    test = service.dataset(train=False)
    mistakes = service.misclassified(res)
    n_wrong = int((res.preds != res.labels).sum())
    summary = (f"### {name}: {res.accuracy:.2%} on the 10,000 test images\n"
               f"{n_wrong} mistakes · {ms:.3f} ms per image in batches · weakest digit "
               f"**{int(np.argmin(res.per_class))}** ({min(res.per_class):.2%})")
    imgs = test.images[:10].numpy() / 255.0
    titles = [f"Prediction: {p}" for p in res.preds[:10]]
    colours = ["black" if p == t else "red" for p, t in zip(res.preds[:10], res.labels[:10])]
    grid = charts.digit_grid(imgs, titles, ncols=5, colours=colours, title="First 10 test digits (red = wrong)")
    return (summary, charts.per_class_bars(res.per_class), charts.confusion_matrix(res.confusion),
            mistakes, grid)


@friendly_errors
def compare(service: Service, session: VisitorSession,
            progress: gr.Progress = gr.Progress()) -> tuple[pd.DataFrame, str]:
    """Every model scored on the test images and the pen digits of unseen writers, and who is best at what."""
    progress(0.1, desc="Scoring every model on 10,000 test images…")
    df = pd.DataFrame(service.comparison(session), columns=COMPARE_COLS)
    clean, pen = df.iloc[:, 3].astype(float), df.iloc[:, 4].astype(float)
    ranking = (f"Best on clean MNIST: **{df.model[clean.idxmax()]}** ({clean.max():.2f} %) · best reader of "
               f"real handwriting by people the models never saw: **{service.best_model()}**"
               + (f" (best single model {df.model[pen.idxmax()]}, {pen.max():.2f} %)" if pen.notna().any() else ""))
    return df, ranking


@friendly_errors
def recorded(service: Service, name: str, shown: str) -> tuple:
    """What the committed checkpoints recorded (on opening the tab), unless the visitor's evaluation is shown."""
    if shown != PICK:  # the visitor's own evaluation is on screen: leave it
        return (gr.update(),) * 5
    m = service.resolve(name)[1].get("metrics", {}) if name in service.registry.available() else {}
    rows = recorded_rows(service)
    ranking = ("Recorded when each checkpoint was made (ms per image: press **Compare all models**)."
               if rows else "No committed checkpoint could be loaded.")
    table_df = pd.DataFrame(rows, columns=COMPARE_COLS)
    per = m.get("per_class")
    if not isinstance(m.get("accuracy"), float) or not isinstance(per, list) or len(per) != 10:
        return (PICK, None, None, table_df, ranking)
    text = (f"### {name}: {m['accuracy']:.2%} on the 10,000 test images\n"
            f"Recorded when the checkpoint was made · weakest digit **{int(np.argmin(per))}** "
            f"({min(per):.2%}). Press **Evaluate** to re-score it here, with its most confident "
            "mistakes and the seed's grid.")
    conf = shipped_confusion(name, checkpoint_path(name, service.registry.directory))
    conf_fig = charts.confusion_matrix(np.asarray(conf)) if conf is not None else None
    return text, charts.per_class_bars(per), conf_fig, table_df, ranking


def build_evaluate_tab(service: Service, state: gr.State, tab: gr.Tab | None = None) -> gr.Dropdown:
    """Lay out the Evaluate tab; returns its model dropdown (the Train tab adds visitors' models). Opening `tab`
    shows what the committed checkpoints recorded (accuracy, per-digit bars, every model's row) at once."""
    names = service.model_names()
    run_, compare_, recorded_ = (partial(fn, service) for fn in (run, compare, recorded))

    with gr.Row():
        model = gr.Dropdown(names, value=names[0] if names else None, label="Model", elem_id="eval-model")
        go = gr.Button("Evaluate", variant="primary", elem_id="eval-run")
    summary = gr.Markdown(PICK, elem_id="eval-summary")
    with gr.Row():
        per_class = gr.Plot(label="Accuracy per digit", show_label=False)
        confusion = gr.Plot(label="Confusion matrix", show_label=False)
    # Is its confidence honest? (issue 21; shipped by python -m mnist_demo.trust.fit, more on the Trust tab)
    calibration = gr.Plot(label="Reliability diagram", show_label=False, elem_id="eval-calibration")
    with gr.Row():
        grid = gr.Plot(label="The seed's 2×5 'Prediction: d' grid", show_label=False)
        gallery = gr.Gallery(label="Most confident mistakes (true → predicted · confidence)", columns=5,
                             height=400, object_fit="contain", elem_id="mistakes")
    compare_btn = gr.Button("Compare all models", elem_id="compare")
    ranking = gr.Markdown(elem_id="compare-ranking")
    table = gr.Dataframe(headers=COMPARE_COLS, label="All models", interactive=False, elem_id="compare-table")
    trust = Trust(service)
    reliability = partial(reliability_figure, trust)  # the chosen model's diagram, from the shipped calibration
    on_open(tab, reliability, model, calibration, concurrency_id="evaluate_open", concurrency_limit=2)
    model.change(reliability, model, calibration, api_name=False, concurrency_id="evaluate_open",
                 concurrency_limit=2, show_progress="hidden")
    on_open(tab, recorded_, [model, summary], [summary, per_class, confusion, table, ranking],
            concurrency_id="evaluate_open", concurrency_limit=2)
    go.click(run_, [model, state], [summary, per_class, confusion, gallery, grid], api_name="evaluate",
             concurrency_id="evaluate", concurrency_limit=2, show_progress_on=[summary])
    compare_btn.click(compare_, state, [table, ranking], api_name="compare", concurrency_id="evaluate",
                      concurrency_limit=2, show_progress_on=[table])
    return model
