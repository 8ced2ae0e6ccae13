"""The UI-facing façade: turns core results into plain values the app shows (no Gradio here)."""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .background import BusyError, in_background
from .checkpoints import CheckpointError, make_payload, save_payload
from .config import TrainConfig
from .data import MnistSplit, load_mnist
from .drawing.preprocess import Preprocessed, preprocess
from .engine import EvalResult, Scored, evaluate, fit_and_score, predict_logits, validate_config
from .ensemble import ENSEMBLE
from .models import CLASSIFIERS, get_spec
from .numbers import as_number, as_whole
from .predict import Prediction, predict_many, predict_probs
from .registry import PEN_METRIC, ModelRegistry
from .tempfiles import TempFiles
from .watch import DrawingWatcher, WatchHistory

if TYPE_CHECKING:  # live_tsne pulls in openTSNE and scikit-learn (~2 s): imported when a run asks for a map
    from .tsne.live import Frame, LiveTSNE

LIVE_TSNE_POINTS = 500  # seed 000 maps 500 test digits every 50 steps

SESSION_PREFIX = "yours: "
BEST = "best"  # a model name everywhere (Draw tab, API, predict_digit): the best reader of real handwriting


@dataclass(frozen=True)
class Limits:
    """Bounds on what one visitor may ask of a training run (tighter in public mode)."""

    max_epochs: float = 30.0
    max_train_size: int = 60_000
    max_batch: int = 1024
    max_seconds: float = 3600.0
    max_models_per_session: int = 20  # a visitor's oldest trained model goes when one more joins
    max_visitor_models_mb: float = 2000.0  # all visitors' trained models together; the oldest go first
    max_temp_mb: float = 2000.0  # checkpoints and GIFs written for visitors, all together; the oldest go first
    cache_ttl_s: int = 3 * 3600  # gradio's copies of outputs and uploads are deleted after this many seconds


PUBLIC_LIMITS = Limits(max_epochs=2.0, max_train_size=20_000, max_batch=512, max_seconds=90.0,
                       max_models_per_session=4, max_visitor_models_mb=60.0, max_temp_mb=100.0, cache_ttl_s=900)


class VisitorSession:
    """One visitor's own state: the models they trained and the flag their Stop button sets.

    A plain class, not a dataclass: gradio serialises dataclass state values into the page config.
    """

    def __init__(self) -> None:
        self.models: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
        self.stop = threading.Event()
        self.training = False
        self.runs = 0
        self.folder: Path | None = None  # this visitor's checkpoints and GIFs (TempFiles), made on first use

    def close(self) -> None:
        """Stop any run, drop the models and delete the visitor's files (the session has ended)."""
        self.stop.set()
        self.models.clear()
        TempFiles.remove(self.folder)
        self.folder = None


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


@dataclass(frozen=True)
class Reading:
    """A drawing made ready for one model: what every tab that reads the pad starts from."""

    name: str  # the model's name as shown ('best' resolved to the model it stands for)
    model: nn.Module
    meta: dict[str, Any]
    pre: Preprocessed

    def predict(self) -> Prediction:
        """This model's answer for the drawing."""
        return Prediction(self.name, *predict_probs(self.model, self.pre.image))


class Service:
    """Everything the app calls: prediction, live training, evaluation, dataset views."""

    def __init__(self, registry: ModelRegistry, limits: Limits | None = None, temp_root: Path | None = None) -> None:
        self.registry = registry
        self.device = registry.device
        self.limits = limits or Limits()
        self.files = TempFiles(temp_root, int(self.limits.max_temp_mb * 1e6))
        self._eval_cache: dict[str, tuple[EvalResult, float]] = {}
        # A visitor's model scored on the test set once (Compare, Evaluate); gone with the model.
        self._own_eval: weakref.WeakKeyDictionary[nn.Module, tuple[EvalResult, float]] = weakref.WeakKeyDictionary()
        self._cache_lock = threading.Lock()
        # Every visitor's trained models, oldest first: (session, key, bytes); bounded by max_visitor_models_mb.
        self._owned: list[tuple[weakref.ref, str, int]] = []
        self.answered = threading.Event()  # a drawing has been read: background warm-ups may start (ui/warm_up.py)

    def visitor_folder(self, session: VisitorSession) -> Path:
        """The visitor's own folder for files the app writes for them (removed when their session ends)."""
        if session.folder is None or not session.folder.is_dir():
            session.folder = self.files.folder()
        return session.folder

    def adopt(self, session: VisitorSession, key: str, model: nn.Module, meta: dict[str, Any]) -> list[str]:
        """Add a trained model to the session within the caps; the names of models dropped to make room."""
        dropped = []
        while len(session.models) >= max(1, self.limits.max_models_per_session):
            old = next(iter(session.models))
            session.models.pop(old)
            dropped.append(old)
        session.models[key] = (model, meta)
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        budget = self.limits.max_visitor_models_mb * 1e6
        with self._cache_lock:
            self._owned = [(r, k, b) for r, k, b in self._owned if (s := r()) is not None and k in s.models]
            self._owned.append((weakref.ref(session), key, size))
            total = sum(b for _, _, b in self._owned)
            while total > budget and len(self._owned) > 1:
                ref, k, b = self._owned.pop(0)
                owner = ref()
                if owner is not None and owner.models.pop(k, None) is not None and owner is session:
                    dropped.append(k)
                total -= b
        return dropped

    # ---------- models ----------
    def model_names(self, session: VisitorSession | None = None) -> list[str]:
        """Committed models that load, then this visitor's own, for a dropdown."""
        own = [SESSION_PREFIX + n for n in (session.models if session else {})]
        return self.registry.available() + own

    def best_model(self, single: bool = False) -> str:
        """The model (or ensemble, unless `single`: tabs that look inside one network) that reads real
        handwriting of unseen writers best, else the most accurate."""
        return self.registry.best(PEN_METRIC, single=single)

    def draw_choices(self, session: VisitorSession | None = None) -> list[tuple[str, str]]:
        """(label, name) for the Draw tab and the API: 'best', the committed models, the ensemble, then yours."""
        own = [SESSION_PREFIX + n for n in (session.models if session else {})]
        committed = self.registry.choices()
        best = [(f"best (now {self.best_model()})", BEST)] if committed else []  # no checkpoint loads: no "best"
        return [*best, *[(n, n) for n in committed + own]]

    def resolve(self, name: str, session: VisitorSession | None = None) -> tuple[nn.Module, dict[str, Any]]:
        """(model, metadata) for a committed name or a 'yours: …' session name."""
        if not isinstance(name, str) or not name:
            raise ValueError("choose a model")
        if name.startswith(SESSION_PREFIX):
            key = name[len(SESSION_PREFIX):]
            if session is None or key not in session.models:
                raise KeyError(f"{name!r} is not one of your trained models (they live only in your browser session)")
            return session.models[key]
        if name == BEST:
            name = self.best_model()
        if name not in CLASSIFIERS and name != ENSEMBLE:
            raise KeyError(f"unknown model {name!r}; choose one of {', '.join(self.registry.choices())} or {BEST}")
        return self.registry.get(name)

    def status_lines(self) -> list[str]:
        """One line per committed checkpoint that failed to load, naming the rebuild command."""
        return [f"{n} is unavailable: {msg}" for n, msg in self.registry.errors().items()]

    # ---------- draw ----------
    def preprocess(self, value: Any, **switches: bool) -> Preprocessed | None:
        """MNIST-style input for a pad value (None when blank)."""
        return preprocess(value, **switches)

    def read_drawing(self, value: Any, name: str, session: VisitorSession | None = None,
                     **switches: bool) -> Reading | None:
        """The chosen model (committed, 'best' or the visitor's own) and the drawing made ready for it; None when
        the pad is blank. An unknown model is refused before the drawing is looked at."""
        model, meta = self.resolve(name, session)
        pre = preprocess(value, **switches)
        if pre is None:
            return None
        return Reading(self.best_model() if name == BEST else name, model, meta, pre)

    def predict(self, value: Any, name: str, session: VisitorSession | None = None
                ) -> tuple[Preprocessed | None, Prediction | None, list[Prediction]]:
        """(preprocessed, chosen model's prediction, every committed model's prediction) for one drawing."""
        reading = self.read_drawing(value, name, session)
        if reading is None:
            return None, None, []
        pre = reading.pre
        main = reading.predict()
        committed = predict_many({n: self.registry.model(n) for n in self.registry.available()}, pre.image)
        if ENSEMBLE in self.registry.choices():  # one more row from the members' answers: no extra forward pass
            members = [p for p in committed if p.model in self.registry.get(ENSEMBLE)[1]["members"]]
            committed.append(Prediction(ENSEMBLE, np.mean([p.probs for p in members], axis=0),
                                        sum(p.ms for p in members)))
        own = {SESSION_PREFIX + k: m for k, (m, _) in session.models.items()} if session else {}
        self.answered.set()
        return pre, main, committed + predict_many(own, pre.image)

    # ---------- train ----------
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

    # ---------- evaluate ----------
    def evaluation(self, name: str, session: VisitorSession | None = None) -> tuple[EvalResult, float]:
        """(EvalResult on the full test set, inference ms per image); committed models are cached."""
        model, _ = self.resolve(name, session)
        own = name.startswith(SESSION_PREFIX)
        with self._cache_lock:
            hit = self._own_eval.get(model) if own else self._eval_cache.get(name)
        if hit is not None:
            return hit
        test = load_mnist(train=False)
        t0 = time.perf_counter()
        res = evaluate(model, test, self.device)
        ms = (time.perf_counter() - t0) * 1000 / len(test)
        with self._cache_lock:
            if own:  # a visitor's model is scored once; the entry goes with the model
                self._own_eval[model] = (res, ms)
            else:
                self._eval_cache[name] = (res, ms)
        return res, ms

    def misclassified(self, res: EvalResult, limit: int = 24) -> list[tuple[np.ndarray, str]]:
        """The most confident mistakes as (image 28×28, '4 → 9 · 93%'): short enough for a gallery caption."""
        test = load_mnist(train=False)
        wrong = np.nonzero(res.preds != res.labels)[0]
        wrong = wrong[np.argsort(-res.confidence[wrong])][:limit]
        return [(test.images[i].numpy(), f"{res.labels[i]} → {res.preds[i]} · {res.confidence[i]:.0%}")
                for i in wrong]

    def comparison(self, session: VisitorSession | None = None) -> list[list[Any]]:
        """Rows [model, seed, params, accuracy %, real pen %, inference ms/image, recipe] for every available model.

        "real pen" is the recorded top-1 on held-out writers' pen digits (benchmarks/pen_accuracy.py --record;
        the pen data is not needed at run time), None for a visitor's own models."""
        rows = []
        for name in self.model_names(session):
            model, meta = self.resolve(name, session)
            res, ms = self.evaluation(name, session)
            base = name[len(SESSION_PREFIX):].split(" #")[0] if name.startswith(SESSION_PREFIX) else name
            pen = meta.get("metrics", {}).get(PEN_METRIC)
            rows.append([name, get_spec(base).seed_file, sum(p.numel() for p in model.parameters()),
                         round(res.accuracy * 100, 2), round(pen * 100, 2) if pen is not None else None,
                         round(ms, 4), meta.get("metrics", {}).get("recipe", "?")])
        return rows

    # ---------- dataset ----------
    @staticmethod
    def dataset(train: bool = True) -> MnistSplit:
        """The MNIST split (loaded on first use)."""
        return load_mnist(train=train)

    def class_examples(self, digit: int, n: int = 32, offset: int = 0) -> list[tuple[np.ndarray, str]]:
        """n training images of one digit starting at `offset` (browse by class)."""
        tr = load_mnist(train=True)
        idx = torch.nonzero(tr.labels == int(digit), as_tuple=True)[0][offset:offset + n]
        return [(tr.images[i].numpy(), f"#{int(i)}") for i in idx]

    def mean_images(self) -> np.ndarray:
        """(10, 28, 28) mean training image of each digit in [0, 1]."""
        tr = load_mnist(train=True)
        return np.stack([tr.images[tr.labels == d].float().mean(0).numpy() / 255 for d in range(10)])

    @staticmethod
    def random_batch(seed: int, n: int = 64) -> tuple[np.ndarray, list[int]]:
        """A seeded random batch of training images (n, 28, 28) uint8 and their labels."""
        tr = load_mnist(train=True)
        idx = torch.randperm(len(tr), generator=torch.Generator().manual_seed(int(seed)))[:n]
        return tr.images[idx].numpy(), tr.labels[idx].tolist()


def checkpoint_error_text(exc: Exception) -> str:
    """A visitor-facing sentence for checkpoint and lookup failures."""
    if isinstance(exc, CheckpointError):
        return f"That model is unavailable: {exc}"
    return str(exc).strip("'\"")
