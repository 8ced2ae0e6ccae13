"""Model's-eye view and robustness probes, in the core and through the real app."""

from __future__ import annotations

import numpy as np
import pytest

from harness.server import local_client
from mnist_demo.probes import probe_inks, robustness
from mnist_demo.registry import ModelRegistry
from tests.support.apps import pad_file, running_app
from tests.support.drawings import seven


def test_probes_change_the_drawing_and_report_per_model() -> None:
    inks = probe_inks(seven())
    assert next(iter(inks)) == "as drawn" and len(inks) == 7
    base = inks["as drawn"]
    assert all(v.shape == base.shape for v in inks.values())
    assert inks["thicker pen"].sum() > base.sum() > inks["thinner pen"].sum()
    assert inks["shrunk to 40 %"].sum() < 0.3 * base.sum()
    reg = ModelRegistry("cpu")
    header, rows, inputs = robustness({"lenet5": reg.model("lenet5"), "mlp": reg.model("mlp")}, seven())
    assert header == ["probe", "lenet5", "mlp"] and len(rows) == 7 and rows[0][1] == "7 ✓"
    assert all(v.shape == (28, 28) for v in inputs.values())
    assert probe_inks(np.full((50, 50), 255, np.uint8)) is None


@pytest.fixture(scope="module")
def client():
    with running_app() as url:
        yield local_client(url)


def test_eye_steps_and_switches(client, tmp_path) -> None:
    v = pad_file(np.asarray(seven().convert("RGBA")), tmp_path / "seven.png")
    gallery, label, msg = client.predict(v, "lenet5", True, True, True, True, api_name="/eye_steps")
    captions = [g["caption"] for g in gallery]
    assert len(gallery) == 5 and captions[-1].startswith("28×28") and label["label"] == "7"
    assert "All steps on" in msg
    gallery, _, msg = client.predict(v, "lenet5", False, True, True, True, api_name="/eye_steps")
    assert len(gallery) == 2 and "crop" in msg  # raw + the naive 28×28
    table, shown, msg = client.predict(v, api_name="/probe")
    assert len(table["data"]) == 7 and table["headers"][0] == "probe" and len(shown) == 7
    blank = pad_file(np.full((280, 280, 4), 255, np.uint8), tmp_path / "blank.png")
    assert "Draw a digit" in client.predict(blank, api_name="/probe")[2]
