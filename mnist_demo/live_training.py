"""Live training runs for one visitor (the Train tab): validated settings, a low-priority training thread, the
updates the tab draws, and the finished model joining the visitor's session with its checkpoint and GIF."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .background import BusyError, in_background
from .checkpoints import make_payload, save_payload
from .config import TrainConfig
from .data import MnistSplit, load_mnist
from .engine import EvalResult, Scored, fit_and_score, predict_logits, validate_config
from .models import CLASSIFIERS, get_spec
from .numbers import as_number, as_whole
from .watch import DrawingWatcher, WatchHistory

if TYPE_CHECKING:  # live_tsne pulls in openTSNE and scikit-learn (~2 s): imported when a run asks for a map
    from .tsne.live import Frame, LiveTSNE

from .session import SESSION_PREFIX, VisitorSession

LIVE_TSNE_POINTS = 500  # seed 000 maps 500 test digits every 50 steps


@dataclass
class TrainUpdate:
    """What the Train tab shows after each event of a run."""

    steps: list[int]
    losses: list[float]
    acc_steps: list[int]
    accs: list[float]
    progress: float  # 0..1
    status: str
    done: bool = False
    result: EvalResult | None = None
    model_name: str | None = None
    checkpoint: Path | None = None
    sample_images: np.ndarray | None = None  # (10, 28, 28): the seed's "10 predictions vs real labels"
    sample_titles: list[str] = field(default_factory=list)
    watch: WatchHistory | None = None  # the visitor's drawing re-read at each evaluation step (None: blank pad)
    tsne_frame: Frame | None = None  # the newest live t-SNE map of the last layer (None: off or not yet)
    tsne_gif: Path | None = None  # the whole map animation, at the end


class TrainingRuns:
    """The training half of Service (mixed into it): needs self.limits, self.device, self.files, adopt(),
    visitor_folder()."""

    def train_config(self, name: str, recipe: str, epochs: Any, batch_size: Any, lr: Any, optimizer: str,
                     train_size: Any) -> TrainConfig:
        """A validated TrainConfig from UI values; ValueError with a plain message otherwise.

        The public limits (epochs, batch, size) are checked here; what makes any recipe runnable (optimiser,
        positive rate, ...) is engine.validate_config's, called on the result."""
        if name not in CLASSIFIERS:
            raise ValueError(f"unknown model {name!r}; choose one of {', '.join(CLASSIFIERS)}")
        if recipe not in ("seed", "best"):
            raise ValueError(f"unknown recipe {recipe!r}: use 'seed' or 'best'")
        lim = self.limits
        ep = as_number(epochs, "epochs", 0, lim.max_epochs)
        bs = as_whole(batch_size, "batch size", 1, lim.max_batch)
        rate = as_number(lr, "learning rate", 0, 1)
        size = as_whole(train_size, "training-set size", 100, lim.max_train_size)
        base = get_spec(name).recipe(recipe)
        assert isinstance(base, TrainConfig)
        # Live runs evaluate every 50 steps on 2,000 test images, as the seeds do, so the curve moves;
        # they train on MNIST alone (pad renders take minutes to make and are a CLI-time refinement).
        cfg = dataclasses.replace(base, epochs=ep, batch_size=bs, lr=rate, optimizer=optimizer, train_size=size,
                                  eval_every=50, eval_size=2000, log_every=10, pad_renders=0, pen_renders=0)
        validate_config(cfg)
        return cfg

    def train_stream(self, name: str, cfg: TrainConfig, session: VisitorSession,
                     drawing: Any = None, live_map: bool = False) -> Iterator[TrainUpdate]:
        """Train a fresh `name` for this visitor, yielding updates; the model joins the session at the end.

        With `live_map`, a t-SNE of the last layer of 500 test digits is refreshed at every evaluation,
        computed off the training thread (LiveTSNE) and warm-started so the map does not jump.
        """
        if session.training:
            raise BusyError("you already have a training run going; stop it or wait for it to finish")
        session.training = True
        session.stop.clear()
        live = None
        if live_map:
            from .tsne.live import LiveTSNE

            live = LiveTSNE()
        try:  # on its own low-priority thread: other visitors' predictions come first (see background.py)
            yield from in_background(lambda: self._train(name, cfg, session, drawing, live), session.stop,
                                     name=f"train-{name}")
        finally:
            session.training = False
            if live is not None:
                live.close(drain=False, timeout=5)

    def _train(self, name: str, cfg: TrainConfig, session: VisitorSession,
               drawing: Any, live: LiveTSNE | None) -> Iterator[TrainUpdate]:
        yield TrainUpdate([], [], [], [], 0.0, "Loading MNIST…")
        watcher = DrawingWatcher.from_pad(drawing)  # preprocessed once; inactive for a blank pad
        train, test = load_mnist(train=True), load_mnist(train=False)
        map_x = test.float_images(self.device, LIVE_TSNE_POINTS)
        map_y = test.labels[:LIVE_TSNE_POINTS].numpy()

        def extras() -> dict[str, Any]:
            return {"watch": watcher.history if watcher.active else None,  # a snapshot
                    "tsne_frame": live.latest() if live is not None else None}

        def curves() -> tuple[list[int], list[float], list[int], list[float]]:
            # copies: this runs on the training thread while the request thread draws earlier updates
            return list(steps), list(losses), list(acc_steps), list(accs)

        model = get_spec(name).build()
        steps: list[int] = []
        losses: list[float] = []
        acc_steps: list[int] = []
        accs: list[float] = []
        start = time.perf_counter()
        timed_out = False

        def should_stop() -> bool:
            nonlocal timed_out
            timed_out = time.perf_counter() - start > self.limits.max_seconds
            return session.stop.is_set() or timed_out

        for ev in fit_and_score(model, cfg, train, test, self.device, should_stop):
            if isinstance(ev, Scored):
                break
            steps.append(ev.step)
            losses.append(ev.loss)
            if ev.test_acc is not None:
                acc_steps.append(ev.step)
                accs.append(ev.test_acc)
                watcher.observe(ev.step, model)  # eval mode, no grad, training flag restored
                if live is not None:  # features here (cheap), t-SNE on the worker thread
                    with torch.inference_mode():
                        live.submit(model.features(map_x).cpu().numpy(), map_y, ev.step, ev.test_acc)
            acc_txt = f" · test accuracy {accs[-1]:.2%}" if accs else ""
            status = (f"Training {name}: step {ev.step}/{ev.total_steps} · epoch {ev.epoch:.2f} · "
                      f"loss {ev.loss:.4f}{acc_txt} · {ev.images_per_s:,.0f} images/s")
            if ev.done:  # scored next: the full test set takes a moment
                yield TrainUpdate(*curves(), 0.99, "Scoring on the 10,000 test images…", **extras())
            else:
                yield TrainUpdate(*curves(), ev.step / ev.total_steps, status, **extras())
        scored = ev
        why = " (stopped early)" if scored.last and scored.last.stopped else ""
        if timed_out:
            why = f" (stopped at the {self.limits.max_seconds:.0f} s limit)"
        yield self._finish(name, cfg, session, model, scored, why, test, live, curves(), extras())

    def _finish(self, name: str, cfg: TrainConfig, session: VisitorSession, model: nn.Module, scored: Scored,
                why: str, test: MnistSplit, live: LiveTSNE | None, curves: tuple, extras: dict) -> TrainUpdate:
        """A finished run joins the visitor's models and files; the last update says where to find it."""
        session.runs += 1
        key = f"{name} #{session.runs}"
        for p in model.parameters():
            p.requires_grad_(False)
        metrics = {**scored.metrics, "recipe": "custom"}
        payload = make_payload(name, model, metrics, cfg)
        dropped = self.adopt(session, key, model, {k: v for k, v in payload.items() if k != "state_dict"})
        out_dir = self.visitor_folder(session)
        path = out_dir / f"{name}_run{session.runs}.pt"
        save_payload(payload, path)
        self.files.enforce(keep=path)  # the oldest files of any visitor go once the total passes the cap
        gif = None
        if live is not None:
            frames = live.close(drain=True, timeout=30)
            if frames:
                from .tsne.live import write_gif

                gif = write_gif(frames, out_dir / f"{name}_run{session.runs}_tsne.gif")
                self.files.enforce(keep=gif)
        x = test.float_images("cpu", 10)
        preds = predict_logits(model, x.to(self.device)).argmax(1).cpu().numpy()
        titles = [f"pred {p} / real {r}" for p, r in zip(preds, test.labels[:10].tolist())]
        result = scored.result
        status = (f"Done{why}: {name} reached {result.accuracy:.2%} on the 10,000 test images after "
                  f"{metrics['steps']} steps in {metrics['train_seconds']} s. It is now selectable as "
                  f"“{SESSION_PREFIX}{key}” on the Draw tab (for you only).")
        if dropped:
            status += (f" To make room, your oldest model{'s' if len(dropped) > 1 else ''} "
                       f"({', '.join(dropped)}) {'were' if len(dropped) > 1 else 'was'} dropped.")
        return TrainUpdate(*curves, 1.0, status, True, result, SESSION_PREFIX + key, path,
                           x[:, 0].numpy(), titles, tsne_gif=gif, **extras)
