"""The UI façade without a server: validation of visitors' values and isolation between visitors."""

from __future__ import annotations

import math

import pytest

from mnist_demo.registry import ModelRegistry
from mnist_demo.service import Service
from mnist_demo.session import PUBLIC_LIMITS, VisitorSession


@pytest.fixture(scope="module")
def service() -> Service:
    return Service(ModelRegistry("cpu"))


@pytest.mark.parametrize("epochs,batch,lr,size,match", [
    (0, 64, 1e-3, 1000, "epochs"), (-1, 64, 1e-3, 1000, "epochs"), (math.nan, 64, 1e-3, 1000, "finite"),
    ("ten", 64, 1e-3, 1000, "number"), (1e9, 64, 1e-3, 1000, "epochs"), (1, 0, 1e-3, 1000, "batch size"),
    (1, 12.5, 1e-3, 1000, "whole number"), (1, 64, 0, 1000, "learning rate"), (1, 64, math.inf, 1000, "finite"),
    (1, 64, -0.1, 1000, "learning rate"), (1, 64, 1e-3, 10, "training-set size"), (1, 64, 1e-3, None, "number"),
])
def test_absurd_settings_are_explained(service, epochs, batch, lr, size, match) -> None:
    with pytest.raises(ValueError, match=match):
        service.train_config("cnn", "seed", epochs, batch, lr, "adam", size)


def test_public_limits_cap_a_run() -> None:
    public = Service(ModelRegistry("cpu"), PUBLIC_LIMITS)
    with pytest.raises(ValueError, match="from 0 to 2"):
        public.train_config("cnn", "best", 5, 64, 1e-3, "adam", 1000)
    with pytest.raises(ValueError, match="training-set size"):
        public.train_config("cnn", "best", 1, 64, 1e-3, "adam", 60_000)
    cfg = public.train_config("cnn", "best", 1, 64, 1e-3, "sgd", 1000)
    assert cfg.optimizer == "sgd" and cfg.eval_every == 50 and cfg.augment.enabled


def test_visitor_models_are_private(service) -> None:
    from mnist_demo.models import build_model

    alice, bob = VisitorSession(), VisitorSession()
    alice.models["cnn #1"] = (build_model("cnn").eval(), {})
    assert "yours: cnn #1" in service.model_names(alice)
    assert "yours: cnn #1" not in service.model_names(bob)
    assert service.resolve("yours: cnn #1", alice)[0] is alice.models["cnn #1"][0]
    with pytest.raises(KeyError, match="not one of your trained models"):
        service.resolve("yours: cnn #1", bob)
    with pytest.raises(KeyError, match="not one of your trained models"):
        service.resolve("yours: cnn #1", None)
    alice.close()
    assert not alice.models and alice.stop.is_set()


def test_unknown_and_empty_model_names(service) -> None:
    with pytest.raises(KeyError, match="unknown model"):
        service.resolve("resnet", None)
    with pytest.raises(ValueError, match="choose a model"):
        service.resolve("", None)
