"""The plain Python API predict_digit, with the committed models."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_demo import predict as predict_mod
from mnist_demo.predict import BlankDrawingError, predict_digit
from tests.support.drawings import seven


def test_predict_digit_returns_ten_probabilities() -> None:
    probs = predict_digit(seven())
    assert list(probs) == [str(d) for d in range(10)]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
    assert max(probs, key=probs.get) == "7"
    lenet5 = predict_digit(np.asarray(seven()), model="lenet5")
    assert max(lenet5, key=lenet5.get) == "7" and lenet5 != probs  # lenet5's own answer, not the default's
    for name in ("best", "ensemble"):  # the names the Draw tab and the HTTP API take too
        got = predict_digit(seven(), model=name)
        assert max(got, key=got.get) == "7" and sum(got.values()) == pytest.approx(1.0, abs=1e-6)


def test_blank_and_unknown() -> None:
    with pytest.raises(BlankDrawingError, match="draw a digit"):
        predict_digit(np.full((50, 50), 255, np.uint8))
    with pytest.raises(KeyError, match="choose one of"):
        predict_digit(seven(), model="nope")


def test_public_import_matches_the_module_function() -> None:
    from mnist_demo import predict_digit as top_level

    assert top_level(seven(), "cnn_fc3") == predict_mod.predict_digit(seven(), "cnn_fc3")
