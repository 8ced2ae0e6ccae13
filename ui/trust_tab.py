"""Trust tab: honest confidence (reliability diagrams before and after temperature scaling) and "Fool it", an
attack on the visitor's drawing (the smallest ε that flips the answer, the perturbation, the ink-only version,
and which other models the same image fools). The Draw tab's "not a digit" verdict is explained here too."""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from mnist_demo.plots import trust as plots_trust
from mnist_demo.service import Service
from mnist_demo.session import VisitorSession
from mnist_demo.trust.attack import MAX_EPS
from mnist_demo.trust.facade import Trust

from .common import EXAMPLE_NOTE, on_open, pad_or_example
from .components import Slider
from .errors import friendly_errors

TRANSFER_COLS = ["model", "reads the clean drawing", "reads the perturbed image", "confidence", "fooled"]
CAL_COLS = ["model", "temperature", "ECE MNIST test before (%)", "ECE MNIST test after (%)",
            "ECE unseen writers before (%)", "ECE unseen writers after (%)"]
TARGETS = [("any other digit", "any"), *[(str(d), str(d)) for d in range(10)]]
INTRO = ("**Confident is not the same as right.** A model's *confidence* is honest when, of all the answers it gives "
         "with 90 % confidence, 90 % are right. The diagram shows accuracy against confidence before and after "
         "*temperature scaling* (the logits divided by one number per model, fitted on training data; the answer "
         "never changes, only how sure it sounds). The app shows the scaled probabilities everywhere.")
REJECT_NOTE = ("**\"That's not a digit.\"** The Draw tab flags a drawing when it is unlike the training digits "
               "(its last-layer features are far from every digit's, in six models) or no model finds a digit's "
               "evidence strong; the answer is still shown, greyed, with the reason. Measured on writers no model "
               "saw: about 2 % of their real digits are flagged, and nearly 9 in 10 letters, symbols, shapes, "
               "scribbles, two-digit drawings and crossed-out digits (benchmarks/trust.py).")
FOOL_INTRO = ("**Fool it.** The attack changes each of the 28×28 pixels the model sees by at most ε (FGSM's sign "
              "of the gradient, 8 PGD steps) to change its answer. Your drawing itself is never changed.")


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 2)


def reliability_figure(trust: Trust, name: str) -> Any:
    """The reliability diagram (MNIST test, unseen writers; before and after scaling) of a model, or None."""
    entry = trust.calibration(name) if name else None
    if entry is None:
        return None
    splits = entry.get("splits", {})
    panels = [(splits.get("test", "MNIST test set"), entry["test"]["before"], entry["test"]["after"]),
              (splits.get("pen", "unseen writers' pen digits"), entry["pen"]["before"], entry["pen"]["after"])]
    return plots_trust.reliability_diagram(panels, title=f"{name}: is its confidence honest? Before and after "
                                                         "temperature scaling")


def _cal_table(trust: Trust, cal_names: list[str]) -> pd.DataFrame:
    rows = []
    for n in cal_names:
        e = trust.calibration(n)
        if e is None:
            continue
        rows.append([n, e.get("temperature") or "—", _pct(e["test"]["before"]["ece"]),
                     _pct(e["test"]["after"]["ece"]), _pct(e["pen"]["before"]["ece"]),
                     _pct(e["pen"]["after"]["ece"])])
    return pd.DataFrame(rows, columns=CAL_COLS)


# Handlers: module-level, bound to the trust facade (and the service, the calibrated models) in build_trust_tab
# (functools.partial), testable without a server.
@friendly_errors
def show_calibration(trust: Trust, cal_names: list[str], name: str) -> tuple:
    """The model's reliability diagram, its ECE before and after scaling in words, and every model's ECE."""
    entry = trust.calibration(name) if name else None
    if entry is None:
        return (None, "No calibration recorded for this model (run `python -m mnist_demo.trust.fit`).",
                _cal_table(trust, cal_names))
    t = entry.get("temperature")
    what = (f"temperature **{t:.2f}**" if t else "the average of its members' scaled probabilities")
    note = (f"**{name}**: {what}. ECE (expected calibration error, the average gap between confidence and "
            f"accuracy) on the MNIST test set {entry['test']['before']['ece']:.2%} → "
            f"**{entry['test']['after']['ece']:.2%}**, on writers no model saw "
            f"{entry['pen']['before']['ece']:.2%} → **{entry['pen']['after']['ece']:.2%}**.")
    if entry.get("stale"):
        note += " ⚠️ Recorded for an older checkpoint file."
    return reliability_figure(trust, name), note, _cal_table(trust, cal_names)


@friendly_errors
def fool(trust: Trust, value: Any, name: str, eps: Any, target: Any, session: VisitorSession | None) -> tuple:
    """Attack the drawing at ε: the panels, what changed in words, and which other models the image fools."""
    out = trust.fool(value, name, eps, target, session)
    if out is None:
        return (None, "✏️ **Draw a digit on the Draw tab first**, then press **Fool it**.",
                pd.DataFrame(columns=TRANSFER_COLS))
    r, ink = out.result, out.ink
    goal = "any other digit" if target in (None, "", "any") else f"a {target}"
    if r.flipped:
        head = (f"At ε = {r.eps:g}, **{out.model}** now reads a **{r.digit}** ({r.probs.max():.1%}) "
                f"instead of {r.label}.")
    else:
        head = (f"At ε = {r.eps:g}, **{out.model}** still reads a **{r.digit}** ({r.probs.max():.1%}): "
                f"not fooled into {goal}.")
    smallest = (f"The smallest ε that fools it into {goal}: **{r.min_eps:g}**" if r.min_eps is not None
                else f"No ε up to {MAX_EPS:g} fooled it into {goal}")
    ink_txt = (f"adding ink only: **{ink.min_eps:g}**" if ink.min_eps is not None
               else f"adding ink only: not within ε ≤ {MAX_EPS:g}")
    msg = f"{head}  \n{smallest}; {ink_txt} (both searched in {r.ms:.0f} ms)."
    rows = []
    for n, p in out.transfer.items():
        was = int(out.before[n].argmax())
        rows.append([n, was, int(p.argmax()), round(float(p.max()), 4), "yes" if int(p.argmax()) != was else "no"])
    ink_img = ink.adversarial if ink.flipped else (ink.min_adversarial if ink.min_adversarial is not None
                                                    else ink.adversarial)
    fig = plots_trust.attack_panels(
        out.clean, r.adversarial, ink_img,
        [f"what {out.model} sees: {r.label}", f"perturbed (ε={r.eps:g}): {r.digit}",
         "difference (red brighter)", "ink only: added ink in red"])
    return fig, msg, pd.DataFrame(rows, columns=TRANSFER_COLS)


@friendly_errors
def opened(service: Service, trust: Trust, cal_names: list[str], value: Any, cal: str, name: str, e: Any, tgt: Any,
           session: VisitorSession | None) -> tuple:
    """The calibration view and an attack on the drawing, or on the example 7 while the pad is blank."""
    shown = show_calibration(trust, cal_names, cal)
    value, example = pad_or_example(service, value)
    fig, msg, table = fool(trust, value, name, e, tgt, session)
    return (*shown, fig, (EXAMPLE_NOTE + "  \n" + msg) if example else msg, table)


def build_trust_tab(service: Service, state: gr.State, pad: gr.Sketchpad, tab: gr.Tab | None = None) -> None:
    """Lay out the Trust tab; `pad` is the Draw tab's sketchpad. Opening `tab` shows the best model's reliability
    diagram and an attack on the drawing (or the example 7)."""
    trust = Trust(service)  # stateless: the rule and the report are read once per file version
    cal_names = [n for n in trust.calibrated_names() if n in service.registry.choices()]
    names = service.model_names()
    best = service.best_model(single=True) if names else None
    show_calibration_, fool_ = partial(show_calibration, trust, cal_names), partial(fool, trust)

    gr.Markdown(INTRO)
    with gr.Row():
        cal_model = gr.Dropdown(cal_names, value=(best if best in cal_names else (cal_names[0] if cal_names else None)),
                                label="Model", elem_id="trust-cal-model")
    cal_note = gr.Markdown(elem_id="trust-cal-note")
    cal_plot = gr.Plot(label="Reliability diagram", show_label=False, elem_id="trust-reliability")
    cal_table = gr.Dataframe(headers=CAL_COLS, label="Every model: ECE before → after scaling", interactive=False,
                             elem_id="trust-cal-table")
    gr.Markdown(REJECT_NOTE)
    gr.Markdown(FOOL_INTRO)
    with gr.Row(equal_height=True):
        atk_model = gr.Dropdown(names, value=best, label="Model to fool", elem_id="trust-model")
        eps = Slider(0.01, MAX_EPS, value=0.1, step=0.01, label="ε (largest change of one pixel)",
                     elem_id="trust-eps")
        target = gr.Dropdown(TARGETS, value="any", label="Make it read", elem_id="trust-target")
        go = gr.Button("Fool it", variant="primary", elem_id="trust-run")
    atk_note = gr.Markdown(elem_id="trust-status")
    atk_plot = gr.Plot(label="The attack", show_label=False, elem_id="trust-attack")
    atk_table = gr.Dataframe(headers=TRANSFER_COLS, label="Does the same image fool the other models?",
                             interactive=False, elem_id="trust-transfer")

    cal_model.change(show_calibration_, cal_model, [cal_plot, cal_note, cal_table], api_name=False,
                     concurrency_id="trust_view", concurrency_limit=2)
    common = dict(concurrency_id="attack", concurrency_limit=1)
    go.click(fool_, [pad, atk_model, eps, target, state], [atk_plot, atk_note, atk_table], api_name="fool",
             show_progress_on=[atk_note], **common)

    on_open(tab, partial(opened, service, trust, cal_names), [pad, cal_model, atk_model, eps, target, state],
            [cal_plot, cal_note, cal_table, atk_plot, atk_note, atk_table], **common)
