"""Shapes, feature sizes and parameter counts of every registered model."""

from __future__ import annotations

import pytest
import torch

from mnist_demo.config import SinCosConfig, TrainConfig
from mnist_demo.models import CLASSIFIERS, MODELS, SinCosRNN, build_model, get_spec

FEATURE_DIMS = {"cnn": 1568, "lenet5": 84, "lenet5_fc": 84, "cnn_fc3": 512, "simple_cnn": 50, "mlp": 8, "lstm": 64}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_shapes(name: str) -> None:
    model = build_model(name).eval()
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    assert model.features(x).shape == (3, FEATURE_DIMS[name])
    # forward is the head applied to features: t-SNE plots exactly what the classifier reads
    torch.testing.assert_close(model.head(model.features(x)), model(x))


def test_registry_covers_every_seed_model() -> None:
    assert set(CLASSIFIERS) == set(FEATURE_DIMS)
    assert "rnn_sin_cos" in MODELS and not MODELS["rnn_sin_cos"].classifier
    for name, spec in MODELS.items():
        assert spec.title and spec.seed_file in {"000", "001", "002", "003", "004"}
        kind = TrainConfig if spec.classifier else SinCosConfig
        assert isinstance(spec.seed_recipe, kind) and isinstance(spec.best_recipe, kind), name


def test_parameter_budgets_match_the_seeds() -> None:
    assert get_spec("simple_cnn").params == 6422
    assert get_spec("mlp").params == 6442
    assert get_spec("lenet5").params == get_spec("lenet5_fc").params  # conv C5 and Linear C5 hold the same weights


def test_normalisation_lives_inside_the_model() -> None:
    lenet = build_model("lenet5")
    x = torch.zeros(1, 1, 28, 28)
    assert torch.allclose(lenet.normalise(x), torch.full_like(x, -0.1307 / 0.3081))
    assert torch.equal(build_model("cnn").normalise(x), x)


def test_lstm_row_logits_end_with_the_prediction() -> None:
    lstm = build_model("lstm").eval()
    x = torch.rand(2, 1, 28, 28)
    assert lstm.row_logits(x).shape == (2, 28, 10)
    torch.testing.assert_close(lstm.row_logits(x)[:, -1], lstm(x))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sincos_rnn(cell: str) -> None:
    y, h = SinCosRNN(cell, 16)(torch.rand(1, 10, 1))
    assert y.shape == (1, 10, 1) and h is not None


def test_unknown_model_names_are_explained() -> None:
    with pytest.raises(KeyError, match="choose one of"):
        get_spec("resnet")
    with pytest.raises(ValueError, match="seed"):
        get_spec("cnn").recipe("fast")
