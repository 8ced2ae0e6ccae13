"""What the app asks about trust: the Draw tab's "not a digit" verdict, the shipped reliability diagrams and the
"Fool it" attack on a drawing, as plain values (no Gradio)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checkpoints import checkpoint_path
from ..ensemble import ENSEMBLE
from ..predict import Prediction, to_tensor
from ..recorded_run import checkpoint_sha
from .attack import AttackResult, attacks, transfer
from .calibration import CALIBRATION_PATH
from .reject import RejectRule, Verdict, load_rule, verdict

if TYPE_CHECKING:
    from ..drawing.preprocess import Preprocessed
    from ..service import Service
    from ..session import VisitorSession


@dataclass(frozen=True)
class FoolIt:
    """An attack on one drawing with one model: at the visitor's ε, the ink-only version, every model's answer."""

    model: str
    clean: np.ndarray  # (28, 28) what the model sees
    result: AttackResult
    ink: AttackResult  # the same attack allowed only to add ink
    transfer: dict[str, np.ndarray]  # model -> probabilities on result.adversarial
    before: dict[str, np.ndarray]  # model -> probabilities on the clean drawing


@lru_cache(maxsize=4)
def _report(path: str, mtime_ns: int) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def calibration_report(path: Path = CALIBRATION_PATH) -> dict[str, Any] | None:
    """The shipped reliability diagrams (python -m mnist_demo.trust.fit), or None when missing or unreadable."""
    try:
        return _report(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError):
        return None


class Trust:
    """Trust features over one Service's models."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.registry = service.registry

    # ---------- "that's not a digit" ----------
    def rule(self) -> RejectRule | None:
        """The committed reject rule when every model it needs loads."""
        rule = load_rule(self.registry.directory)
        if rule is None or any(m not in self.registry.available() for m in rule.models):
            return None
        return rule

    def verdict(self, pre: Preprocessed, every: list[Prediction]) -> Verdict | None:
        """Whether the drawing looks like a digit (one forward pass of each model the rule reads), with the
        committed models' answers made for the Draw tab as the reason's votes; None when there is no rule."""
        rule = self.rule()
        if rule is None:
            return None
        models = {m: self.registry.model(m) for m in rule.models}
        x = to_tensor(pre.image, next(models[rule.models[0]].parameters()).device)
        voters = (self.registry.get(ENSEMBLE)[1]["members"] if ENSEMBLE in self.registry.choices()
                  else rule.models)
        digits = {p.model: p.digit for p in every if p.model in voters}
        return verdict(rule, rule.raw_signals(models, x)[0], digits)

    # ---------- calibration ----------
    def calibration(self, name: str) -> dict[str, Any] | None:
        """{'temperature', 'test': {'before', 'after'}, 'pen': {...}, 'stale': bool} of a committed model or the
        ensemble; None when nothing was recorded for it."""
        rep = calibration_report()
        if rep is None or name not in rep.get("models", {}):
            return None
        entry = dict(rep["models"][name])
        shas = rep.get("sha", {})
        names = [name] if name != ENSEMBLE else [n for n in shas]
        try:
            entry["stale"] = any(checkpoint_sha(checkpoint_path(n, self.registry.directory)) != shas.get(n)
                                 for n in names)
        except OSError:
            entry["stale"] = True
        entry["splits"] = rep.get("splits", {})
        return entry

    def calibrated_names(self) -> list[str]:
        """Models with a recorded calibration, in the report's order."""
        rep = calibration_report()
        return list(rep.get("models", {})) if rep else []

    # ---------- "Fool it" ----------
    def fool(self, value: Any, name: str, eps: Any, target: Any = None,
             session: VisitorSession | None = None) -> FoolIt | None:
        """Attack the drawing on `name` at ε (and search the smallest ε; and ink only); None for a blank pad."""
        model, _ = self.service.resolve(name, session)
        pre = self.service.preprocess(value)
        if pre is None:
            return None
        clean = pre.image.copy()
        res, ink = attacks(model, clean, eps, target, (False, True))  # both searched in the same batches
        others = {n: self.registry.model(n) for n in self.registry.available()}
        if ENSEMBLE in self.registry.choices():
            others[ENSEMBLE] = self.registry.model(ENSEMBLE)
        shown = self.service.best_model() if name == "best" else name
        return FoolIt(shown, clean, res, ink, transfer(others, res.adversarial), transfer(others, clean))
