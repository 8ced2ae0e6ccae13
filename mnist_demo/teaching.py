"""The "Teach it" flow for the app (no Gradio): a visitor's own digits and a fine-tune on them.

Sits beside Service (service.py) and uses it for models, the visitor's model slots and files: a fine-tuned
model joins the visitor's models exactly like a Train-tab run (same caps, same "yours: …" names, a checkpoint
in their own folder). The fine-tune runs on the low-priority training thread (background.in_background) and
counts as the visitor's training run: one at a time, stopped at the Limits' max_seconds, sharing the Train tab's
queue slot (the UI wires it with concurrency_id "train").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .background import BusyError, in_background
from .checkpoints import make_payload, save_payload
from .data import load_mnist
from .drawing.preprocess import preprocess
from .my_digits import MyDigit, MyDigits, raw_thumbnail
from .personalize import HOLDOUT_FRACTION, PersonalizeConfig, TeachReport, replay_set, teach
from .service import Service
from .session import SESSION_PREFIX, VisitorSession

MAX_STEPS = 400  # what a visitor may ask for (the default, 100, is 1-3 s for LeNet-5 on one core)


def my_digits(session: VisitorSession) -> MyDigits:
    """The visitor's own set of labelled drawings, made on first use (lives and dies with the session)."""
    digits = getattr(session, "digits", None)
    if digits is None:
        digits = session.digits = MyDigits()
    return digits


def save_drawing(session: VisitorSession, value: Any, label: Any) -> MyDigit | None:
    """Add a pad drawing with the visitor's label (the 28×28 the models see + the raw strokes, downscaled);
    None for a blank pad. ValueError for a bad label, DigitsFullError when the set is full."""
    try:
        digit = int(label)
    except (TypeError, ValueError):
        raise ValueError(f"a label is a digit 0-9, got {label!r}") from None
    if str(label).strip() not in {str(d) for d in range(10)}:
        raise ValueError(f"a label is a digit 0-9, got {label!r}")
    pre = preprocess(value)
    if pre is None:
        return None
    return my_digits(session).add(pre.image, digit, raw_thumbnail(pre.steps["raw"]))


def next_prompt(digits: MyDigits) -> int:
    """The digit to ask for next: the one with the fewest drawings (lowest first)."""
    return int(np.argmin(digits.counts()))


@dataclass
class TeachUpdate:
    """What the Teach tab shows during and after a fine-tune."""

    steps: list[int]
    losses: list[float]
    progress: float
    status: str
    done: bool = False
    report: TeachReport | None = None
    model_name: str | None = None  # "yours: …" once the model has joined the session
    checkpoint: Path | None = None
    images: dict[int, np.ndarray] = field(default_factory=dict)  # id -> 28×28 of the held-out drawings


def teach_config(service: Service, steps: Any = None, seed: int = 0) -> PersonalizeConfig:
    """The fine-tune settings for a visitor: default steps, within the caps; ValueError otherwise."""
    cfg = PersonalizeConfig(seed=seed, max_seconds=service.limits.max_seconds)
    if steps is None:
        return cfg
    try:
        n = float(steps)
    except (TypeError, ValueError):
        raise ValueError(f"steps must be a whole number, got {steps!r}") from None
    if n != int(n) or not 10 <= n <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 10 to {MAX_STEPS}, got {steps}")
    return dataclasses.replace(cfg, steps=int(n))


def teach_stream(service: Service, session: VisitorSession, name: str,
                 cfg: PersonalizeConfig | None = None) -> Iterator[TeachUpdate]:
    """Fine-tune a copy of model `name` on the visitor's digits (a fixed quarter held out), yielding updates;
    the model joins the visitor's models at the end."""
    cfg = cfg or teach_config(service)
    model, meta = service.resolve(name, session)
    if hasattr(model, "members"):
        raise ValueError("the ensemble is several networks: pick one model to fine-tune")
    images, labels, ids = my_digits(session).arrays()
    if len(labels) == 0:
        raise ValueError("save some drawings first: draw, then press a digit (Draw tab, “Wrong? It's a:”) or "
                         "use the prompts here")
    if session.training:
        raise BusyError("you already have a training run going; stop it or wait for it to finish")
    session.training = True
    session.stop.clear()
    try:  # the training thread: nice 10, so other visitors' predictions come first
        yield from in_background(lambda: _teach(service, session, name, model, meta, images, labels, ids, cfg),
                                 session.stop, name="teach")
    finally:
        session.training = False


def _teach(service: Service, session: VisitorSession, name: str, model: Any, meta: dict[str, Any],
           images: np.ndarray, labels: np.ndarray, ids: np.ndarray, cfg: PersonalizeConfig) -> Iterator[TeachUpdate]:
    yield TeachUpdate([], [], 0.0, "Loading the replay data (MNIST + pen renders)…")
    replay, replay_desc = replay_set()
    base_mnist = service.evaluation(name, session)[0].accuracy
    steps: list[int] = []
    losses: list[float] = []
    report = None
    for ev in teach(model, images, labels, ids, cfg, replay, load_mnist(train=False), base_mnist,
                    should_stop=session.stop.is_set):
        if isinstance(ev, TeachReport):
            report = ev
            break
        steps.append(ev.step)
        losses.append(ev.loss)
        status = f"Fine-tuning a copy of {name}: step {ev.step}/{ev.total_steps} · loss {ev.loss:.4f}"
        yield TeachUpdate(list(steps), list(losses), 0.9 * ev.step / ev.total_steps,
                          status if not ev.done else "Scoring the held-out drawings and MNIST's 10,000 test digits…")
    assert report is not None
    base = meta.get("name") or name
    session.runs += 1
    key = f"{base} #{session.runs} taught"
    metrics = {"accuracy": report.mnist_tuned, "recipe": "taught", "taught_on": len(report.train_ids),
               "held_out": len(report.holdout_ids), "held_out_before": report.base_acc,
               "held_out_after": report.tuned_acc, "base_model": name, "train_seconds": round(report.seconds, 1),
               "steps": report.steps}
    payload = make_payload(base, report.model, metrics, dataclasses.asdict(cfg))
    dropped = service.adopt(session, key, report.model, {k: v for k, v in payload.items() if k != "state_dict"})
    path = service.visitor_folder(session) / f"{base}_taught{session.runs}.pt"
    save_payload(payload, path)
    service.files.enforce(keep=path)
    n_held = len(report.holdout_ids)
    if n_held:
        honest = (f"On your {n_held} held-out drawing{'s' if n_held > 1 else ''} (never used for fine-tuning): "
                  f"{report.base_acc:.0%} → {report.tuned_acc:.0%}.")
    else:
        honest = "No held-out drawings yet (a digit needs 2 or more drawings before one can be held out)."
    why = " (stopped early)" if report.stopped else ""
    status = (f"Done{why} in {report.seconds:.1f} s on {len(report.train_ids)} of your drawings + {replay_desc}. "
              f"{honest} MNIST test: {report.mnist_base:.2%} → {report.mnist_tuned:.2%}. "
              f"Now selectable as “{SESSION_PREFIX}{key}” on the Draw tab (for you only).")
    if dropped:
        status += f" To make room, {', '.join(dropped)} was dropped."
    by_id = {int(i): images[k] for k, i in enumerate(ids)}
    yield TeachUpdate(steps, losses, 1.0, status, True, report, SESSION_PREFIX + key, path,
                      {int(i): by_id[int(i)] for i in report.holdout_ids})


def before_after_rows(report: TeachReport) -> list[list[Any]]:
    """[measure, base, fine-tuned] rows for the before/after table, as text ("—" when not measured)."""
    pct = lambda v: "—" if v is None else f"{100 * v:.2f} %"  # noqa: E731
    n = len(report.holdout_ids)
    return [[f"your held-out drawings ({n}, {HOLDOUT_FRACTION:.0%} per digit, never trained on)",
             pct(report.base_acc), pct(report.tuned_acc)],
            ["MNIST test set (10,000)", pct(report.mnist_base), pct(report.mnist_tuned)],
            ["fine-tune", "—", f"{report.steps} steps, {report.seconds:.1f} s"]]

