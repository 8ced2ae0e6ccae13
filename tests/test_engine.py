"""The training engine on tiny synthetic tensors: events, learning, determinism, stopping, validation."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mnist_demo.config import TrainConfig
from mnist_demo.engine import evaluate, train_classifier, validate_config
from mnist_demo.models import PAD_AUGMENT, build_model
from tests.support.data import needs_mnist

CFG = TrainConfig(epochs=3, batch_size=32, lr=3e-3, eval_every=8, eval_size=256, log_every=4, seed=3)


def _run(split, cfg=CFG, name="lenet5", **kw):
    torch.manual_seed(0)
    model = build_model(name)
    events = list(train_classifier(model, cfg, split, split, "cpu", **kw))
    return model, events


def test_events_and_learning(tiny_split) -> None:
    model, events = _run(tiny_split)
    assert events[-1].done and events[-1].step == events[-1].total_steps == 24
    assert [e.step for e in events] == sorted({e.step for e in events})
    accs = [e.test_acc for e in events if e.test_acc is not None]
    assert len(accs) == 3 + 0  # steps 8, 16, 24
    assert events[-1].loss < events[0].loss * 0.6
    assert evaluate(model, tiny_split).accuracy > 0.8
    assert events[-1].seen == 24 * 32 - (3 * (256 % 32))  # three epochs of 256 images, batches sliced


def test_repeatable_on_cpu(tiny_split) -> None:
    _, a = _run(tiny_split)
    _, b = _run(tiny_split)
    assert [e.loss for e in a] == [e.loss for e in b]


def test_augmented_recipe_runs(tiny_split) -> None:
    cfg = dataclasses.replace(CFG, augment=PAD_AUGMENT, max_steps=5)
    _, events = _run(tiny_split, cfg, name="cnn")
    assert events[-1].step == 5 and events[-1].done


def test_stop_flag_ends_the_run_early(tiny_split) -> None:
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    _, events = _run(tiny_split, should_stop=stop)
    assert events[-1].stopped and events[-1].done and events[-1].step == 3


def test_train_size_subset(tiny_split) -> None:
    _, events = _run(tiny_split, dataclasses.replace(CFG, train_size=64, epochs=1))
    assert events[-1].total_steps == 2


@pytest.mark.parametrize("bad,match", [
    ({"epochs": 0}, "epochs"), ({"epochs": float("nan")}, "epochs"), ({"epochs": -1}, "epochs"),
    ({"batch_size": 0}, "batch size"), ({"lr": 0.0}, "learning rate"), ({"lr": float("inf")}, "learning rate"),
    ({"optimizer": "lbfgs"}, "optimiser"), ({"train_size": 0}, "training-set"),
])
def test_bad_recipes_are_refused(bad, match) -> None:
    with pytest.raises(ValueError, match=match):
        validate_config(dataclasses.replace(CFG, **bad))


@needs_mnist
def test_the_cli_fit_starts_from_the_recipes_seed() -> None:
    """`python -m mnist_demo.train` rebuilds the same weights whatever drew on the global generator before."""
    from mnist_demo.train import fit, recipe_config

    cfg = recipe_config("mlp", "seed", max_steps=3)
    first, _ = fit("mlp", cfg, torch.device("cpu"), quiet=True)
    torch.rand(1000)  # anything else drawing random numbers in between
    again, _ = fit("mlp", cfg, torch.device("cpu"), quiet=True)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
