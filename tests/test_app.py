"""The real app on a localhost port, driven through gradio_client as a visitor would."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client

from harness.server import local_client
from mnist_demo.drawing.sketches import SketchSpec, random_spec, render
from tests.support.apps import pad_file, plot_pixels, running_app
from tests.support.data import needs_mnist


@pytest.fixture(scope="module")
def url():
    with running_app() as u:
        yield u


@pytest.fixture
def client(url) -> Client:
    return local_client(url)


def _top(label: dict) -> str:
    return label["label"]


@needs_mnist
def test_drawn_test_digits_are_read(client, mnist_test, tmp_path) -> None:
    rng = np.random.default_rng(7)
    right = 0
    idx = rng.choice(len(mnist_test), 20, replace=False)
    for i in idx:
        v = pad_file(render(mnist_test.images[i].numpy(), random_spec(rng, mode="stroke")), tmp_path / f"{i}.png")
        right += _top(client.predict(v, "lenet5", api_name="/predict")) == str(int(mnist_test.labels[i]))
    assert right >= 18


def test_predict_gives_top3_confidences(client, tmp_path) -> None:
    from tests.support.drawings import seven

    v = pad_file(np.asarray(seven().convert("RGBA")), tmp_path / "seven.png")
    out = client.predict(v, "lenet5", api_name="/predict")
    assert out["label"] == "7" and len(out["confidences"]) == 3
    confs = [c["confidence"] for c in out["confidences"]]
    assert confs == sorted(confs, reverse=True) and 0.5 < confs[0] <= 1 and sum(confs) <= 1 + 1e-6


def test_every_model_side_by_side(client, tmp_path) -> None:
    from tests.support.drawings import seven

    v = pad_file(np.asarray(seven().convert("RGBA")), tmp_path / "seven.png")
    _, table, bars, seen, message = client.predict(v, "lenet5", api_name="/draw")
    models = [row[0] for row in table["data"]]
    assert "lenet5" in models and "mlp" in models and len(models) >= 4
    assert all(row[1] == 7 for row in table["data"] if row[0] != "mlp")
    assert all(0 <= row[4] < 1000 for row in table["data"])  # latency in ms is reported
    plot_pixels(bars)
    assert seen and "reads a **7**" in message


def test_blank_pad_says_draw_a_digit(client, tmp_path) -> None:
    blank = np.full((280, 280, 4), 255, np.uint8)
    v = pad_file(blank, tmp_path / "blank.png")
    assert client.predict(v, "lenet5", api_name="/predict")["label"] == "draw a digit"
    label, table, _, seen, message = client.predict(v, "lenet5", api_name="/draw")
    assert label["label"] == "draw a digit" and not label.get("confidences")  # never probabilities
    assert "Draw a digit" in message and not any(table["data"]) and seen is None


def test_unknown_model_is_a_clear_error(client, tmp_path) -> None:
    from gradio_client.exceptions import AppError

    v = pad_file(render(np.eye(28, dtype=np.uint8) * 255, SketchSpec()), tmp_path / "x.png")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(v, "resnet152", api_name="/predict")


@needs_mnist
def test_training_streams_and_the_model_is_only_mine(url, tmp_path) -> None:
    me, other = local_client(url), local_client(url)
    job = me.submit("lenet5", "seed", 1.0, 64, 0.003, "adam", 9600, None, True, api_name="/train")
    outs = list(job)
    assert len(outs) >= 5
    final = outs[-1]
    losses = [row[1] for row in final[0]["data"]]
    accs = [row[1] for row in final[1]["data"]]
    assert len(losses) >= 10 and np.mean(losses[-3:]) < np.mean(losses[:3])  # the curve improves
    assert len(accs) >= 3 and accs[-1] > accs[0] and accs[-1] > 0.85
    assert "Done" in final[2] and "yours: lenet5 #1" in final[2]
    assert final[4] and str(final[5]).endswith(".gif")  # the live t-SNE map and its animation
    draw_dd = final[10]
    assert draw_dd["value"] == "yours: lenet5 #1" and ["yours: lenet5 #1"] * 2 in draw_dd["choices"]
    assert str(final[9]).endswith(".pt")  # the checkpoint download
    from tests.support.drawings import seven

    v = pad_file(np.asarray(seven().convert("RGBA")), tmp_path / "seven.png")
    assert me.predict(v, "yours: lenet5 #1", api_name="/predict")["label"] in [str(d) for d in range(10)]
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="not in the list of choices|not one of your trained models"):
        other.predict(v, "yours: lenet5 #1", api_name="/predict")


def test_bad_training_settings_are_refused(client) -> None:
    from gradio_client.exceptions import AppError

    # gradio checks the components' ranges first ("Value 0 is less than minimum value …"); the service
    # checks the rest (see test_service.py for NaN, fractions and caps)
    for args, match in [(("cnn", "seed", 0, 50, 0.001, "adam", 6000), "minimum"),
                        (("cnn", "seed", 1, 50, -1, "adam", 6000), "minimum"),
                        (("cnn", "seed", 1, 0, 0.001, "adam", 6000), "minimum"),
                        (("cnn", "seed", 1, 50, 0.001, "rmsprop", 6000), "rmsprop"),
                        (("cnn", "seed", 1, 50, 5.0, "adam", 6000), "maximum"),
                        (("cnn", "seed", 1, 50, 0.001, "adam", 6000.5), "whole number")]:
        args = (*args, None, False)  # no drawing to watch, no live map
        with pytest.raises(AppError, match=match):
            client.predict(*args, api_name="/train")
    assert "Nothing is training" in client.predict(api_name="/stop_training")


@needs_mnist
def test_evaluate_and_compare(client) -> None:
    summary, per_class, confusion, gallery, grid = client.predict("lenet5", api_name="/evaluate")
    assert "lenet5: 99." in summary and per_class and confusion and grid
    assert len(gallery) >= 10 and "→" in gallery[0]["caption"]
    table, ranking = client.predict(api_name="/compare")
    rows = {r[0]: r for r in table["data"]}
    assert set(rows) >= {"lenet5", "mlp"}
    assert all(r[3] > 90 for r in rows.values())
    # Both rankings: clean MNIST (measured now) and real pen digits of unseen writers (recorded by the benchmark)
    from mnist_demo.registry import PEN_METRIC, ModelRegistry

    reg = ModelRegistry("cpu")
    assert rows["lenet5"][4] == round(reg.get("lenet5")[1]["metrics"][PEN_METRIC] * 100, 2)
    best_clean = max(rows.values(), key=lambda r: r[3])[0]
    assert f"Best on clean MNIST: **{best_clean}**" in ranking and f"never saw: **{reg.best()}**" in ranking


@needs_mnist
def test_dataset_views(client) -> None:
    _, caption = client.predict(0, api_name="/dataset_example")
    assert "label **5**" in caption  # the first training image is a 5
    plot_pixels(client.predict(3, api_name="/dataset_grid"), min_side=400)  # 64 digits with their labels
    assert len(client.predict("3", 0, api_name="/dataset_class")) == 32
    plot_pixels(client.predict(api_name="/dataset_means"))
