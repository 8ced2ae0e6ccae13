"""Committed checkpoints on the real 10k test set: they load, meet their floors, match their metadata."""

from __future__ import annotations

import json

import pytest

from mnist_demo.checkpoints import checkpoint_path, load_checkpoint
from mnist_demo.engine import evaluate
from mnist_demo.models import CLASSIFIERS

FLOORS = {"cnn": 0.990, "lenet5": 0.992, "lenet5_fc": 0.992, "cnn_fc3": 0.993, "simple_cnn": 0.985,
          "mlp": 0.920, "lstm": 0.985}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_committed_checkpoint_meets_its_floor(name: str, mnist_test) -> None:
    assert checkpoint_path(name).stat().st_size <= 10_000_000  # Hugging Face's plain-git limit
    model, meta = load_checkpoint(name)
    res = evaluate(model, mnist_test)
    assert res.accuracy >= FLOORS[name], f"{name}: {res.accuracy:.4f} < {FLOORS[name]}"
    assert res.accuracy == pytest.approx(meta["metrics"]["accuracy"], abs=2e-4)  # metadata tells the truth
    assert meta["metrics"]["recipe"] in ("seed", "best") and meta["metrics"]["train_seconds"] > 0


def test_best_model_reaches_99_5(mnist_test) -> None:
    best = max(load_checkpoint(n)[1]["metrics"]["accuracy"] for n in CLASSIFIERS)
    assert best >= 0.995


def test_evaluate_cli_json(capsys, mnist_test) -> None:
    from mnist_demo.evaluate import main

    assert main(["--model", "mlp", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"mlp"} and out["mlp"]["params"] == 6442 and len(out["mlp"]["per_class"]) == 10
    assert out["mlp"]["accuracy"] >= FLOORS["mlp"]
