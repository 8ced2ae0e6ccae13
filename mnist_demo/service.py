"""The UI-facing façade: turns core results into plain values the app shows (no Gradio here)."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .checkpoints import CheckpointError
from .data import MnistSplit, load_mnist
from .drawing.preprocess import Preprocessed, preprocess
from .engine import EvalResult, evaluate
from .ensemble import ENSEMBLE
from .live_training import TrainingRuns
from .models import CLASSIFIERS, get_spec
from .predict import Prediction, predict_many, predict_probs
from .registry import PEN_METRIC, ModelRegistry
from .session import SESSION_PREFIX, Limits, VisitorSession
from .tempfiles import TempFiles

if TYPE_CHECKING:  # live_tsne pulls in openTSNE and scikit-learn (~2 s): imported when a run asks for a map
    pass

BEST = "best"  # a model name everywhere (Draw tab, API, predict_digit): the best reader of real handwriting


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


class Service(TrainingRuns):
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
