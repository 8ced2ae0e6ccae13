"""Tab handlers are module-level functions of the service: called here directly, without a server (issue 19)."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from mnist_demo.registry import ModelRegistry
from mnist_demo.service import Service
from tests.support.data import needs_mnist
from ui import dataset_tab


@pytest.fixture(scope="module")
def service() -> Service:
    return Service(ModelRegistry("cpu"))


@needs_mnist
def test_dataset_handlers_answer_without_a_server(service: Service) -> None:
    img, caption = dataset_tab.example(service, 7)
    label = int(service.dataset(train=True).labels[7])
    assert img.shape == (196, 196) and img.dtype == np.uint8 and img.max() == 255
    assert caption == f"### Training image #7: label **{label}**"
    page = dataset_tab.by_class(service, "3", 1)
    assert len(page) == 32 and all(cap.startswith("#") for _, cap in page)
    first = dataset_tab.by_class(service, "3", 0)
    assert [c for _, c in first] != [c for _, c in page]  # page 1 is the next 32, not page 0 again


def test_dataset_handlers_refuse_bad_values_with_a_message(service: Service) -> None:
    with pytest.raises(gr.Error, match="whole number from 0 to 9"):
        dataset_tab.by_class(service, "12", 0)
    with pytest.raises(gr.Error, match="page must be a number"):
        dataset_tab.by_class(service, "3", "next")


def test_eye_handlers_read_the_drawing_without_a_server(service: Service) -> None:
    from ui import eye_tab
    from ui.common import example_pad

    gallery, answer, why = eye_tab.steps(service, example_pad(), "lenet5", True, True, True, True, None)
    assert [cap for _, cap in gallery][-1] == eye_tab.STEP_NOTES["model input"]
    assert max(answer, key=answer.get) == "7" and "All steps on: lenet5 reads **7**" in why
    _, _, off = eye_tab.steps(service, example_pad(), "lenet5", False, True, True, True, None)
    assert off.startswith("With **crop** switched off")
    blank = {"background": None, "layers": [], "composite": None}
    assert eye_tab.steps(service, blank, "lenet5", True, True, True, True, None)[2].startswith("✏️")
    with pytest.raises(gr.Error, match="unknown model"):
        eye_tab.steps(service, example_pad(), "no_such_model", True, True, True, True, None)


@needs_mnist
def test_lstm_handlers_read_without_a_server(service: Service) -> None:
    from ui import lstm_tab
    from ui.common import example_pad

    image, label, heat, text, row, reading = lstm_tab.read_drawing(service, example_pad(), "lstm", None)
    assert row == 28 and reading["probs"].shape == (28, 10) and max(label, key=label.get) == "7"
    assert image.ndim == 3 and image.dtype == np.uint8 and heat is not None and heat.axes
    assert text.startswith("Your drawing: the LSTM reads a **7**")
    img, lab = lstm_tab.at_row(5, reading)
    assert img.shape == image.shape and not np.array_equal(img, image)  # only 5 rows lit, not 28
    assert lab == {str(d): float(p) for d, p in enumerate(reading["probs"][4])}  # the answer after row 5
    assert lstm_tab.at_row(40, reading)[1] == label  # past the last row: all 28 read
    assert lstm_tab.at_row("2.9", reading)[1] == lstm_tab.at_row(2, reading)[1]  # rows are whole, cut down
    with pytest.raises(gr.Error, match="rows read must be a finite number"):
        lstm_tab.at_row(float("nan"), reading)
    with pytest.raises(gr.Error, match="no LSTM model is available"):
        lstm_tab.read_drawing(service, example_pad(), "", None)


def test_explain_handlers_explain_without_a_server(service: Service) -> None:
    from mnist_demo import explain
    from ui import explain_tab
    from ui.common import example_pad

    cache = explain.ExplainCache(size=4)
    msg, *figures = explain_tab.run_explain(service, cache, example_pad(), "lenet5", "gradient", None)
    assert msg.startswith("**lenet5** reads a **7**") and "computed in" in msg
    assert [len(f.axes) > 0 for f in figures] == [True, True, True]  # probabilities, top digit, runner-up
    again = explain_tab.run_explain(service, cache, example_pad(), "lenet5", "gradient", None)[0]
    assert "Maps from the cache" in again  # the tab's own cache answered
    assert explain_tab.run_explain(service, cache, None, "lenet5", "gradient", None)[0] == explain_tab.NO_DRAWING


def test_draw_handlers_read_without_a_server(service: Service) -> None:
    from mnist_demo.trust.facade import Trust
    from ui import draw
    from ui.common import example_pad

    top3 = draw.predict_label(service, example_pad(), "lenet5")
    assert max(top3, key=top3.get) == "7"
    label, table, bars, seen, msg = draw.details(service, Trust(service), example_pad(), "best", None)
    assert max(label, key=label.get) == "7" and "reads a **7**" in msg
    assert set(service.registry.available()) <= set(table["model"]) and (table["top-1"] == 7).all()
    assert seen.shape == (168, 168) and bars.axes
    assert draw.predict_label(service, None, "lenet5") == draw.DRAW_A_DIGIT


def test_tsne_handlers_refuse_bad_requests_before_any_map(service: Service) -> None:
    from ui import tsne_tab

    maps = tsne_tab.LazyMaps()
    with pytest.raises(gr.Error, match="perplexity must be a number") as err:
        tsne_tab.show_map(service, maps, "cnn", 500, "lots", "seed", None)
    assert str(err.value.message).endswith("got 'lots'")  # the value quoted whole (its last quote once got cut)
    with pytest.raises(gr.Error, match="points in the map must be from 500 to 10000, got 20000"):
        tsne_tab.show_group(service, maps, "cnn", 20_000, 30, "seed", "4", "true digit", None)
    with pytest.raises(gr.Error, match="unknown model 'resnet'"):
        tsne_tab.show_map(service, maps, "resnet", 500, 30, "seed", None)
    assert tsne_tab.place(service, maps, None, "cnn", 500, 30, "seed", None) == (gr.update(), [], tsne_tab.NO_DRAWING)
    assert tsne_tab.refresh(service, "gone", None)["value"] == service.model_names()[0]


def test_evaluate_handler_shows_what_the_checkpoint_recorded(service: Service) -> None:
    from ui import evaluate_tab

    acc = service.resolve("mlp")[1]["metrics"]["accuracy"]
    text, bars, _conf, table, ranking = evaluate_tab.recorded(service, "mlp", evaluate_tab.PICK)
    assert text.startswith(f"### mlp: {acc:.2%} on the 10,000 test images\nRecorded when the checkpoint was made")
    row = table.set_index("model").loc["mlp"]
    assert row["MNIST test accuracy (%)"] == round(acc * 100, 2) and row["params"] > 0
    assert list(table["model"]) == service.model_names() and bars.axes and ranking.startswith("Recorded when")
    # the visitor's own evaluation on screen: left as it is
    assert evaluate_tab.recorded(service, "mlp", "### mlp: 97.00% …") == (gr.update(),) * 5


@needs_mnist
def test_evaluate_handler_scores_the_test_set(service: Service) -> None:
    from ui import evaluate_tab

    summary, per_class, confusion, mistakes, grid = evaluate_tab.run(service, "mlp", None)
    res, _ms = service.evaluation("mlp", None)
    assert summary.startswith(f"### mlp: {res.accuracy:.2%} on the 10,000 test images\n"
                              f"{int((res.preds != res.labels).sum())} mistakes")
    assert per_class.axes and confusion.axes and grid.axes and mistakes
    with pytest.raises(gr.Error, match="unknown model"):
        evaluate_tab.run(service, "../checkpoints/lenet5.pt", None)


def test_trust_handlers_fool_the_example_and_explain_calibration(service: Service) -> None:
    import re

    from mnist_demo.trust.facade import Trust
    from ui import trust_tab
    from ui.common import example_pad

    trust = Trust(service)
    fig, msg, table = trust_tab.fool(trust, example_pad(), "lenet5", 0.3, "any", None)
    assert re.match(r"At ε = 0\.3, \*\*lenet5\*\* now reads a \*\*[0-689]\*\* \(\d+\.\d%\) instead of 7\.", msg)
    assert "The smallest ε that fools it into any other digit: **" in msg and fig.axes
    row = table.set_index("model").loc["lenet5"]
    assert row["reads the clean drawing"] == 7 and row["reads the perturbed image"] != 7 and row["fooled"] == "yes"
    fig, msg, table = trust_tab.fool(trust, None, "lenet5", 0.3, "any", None)
    assert fig is None and msg.startswith("✏️ **Draw a digit on the Draw tab first**") and table.empty
    cal_names = ["lenet5", "mlp"]
    diagram, note, cal_table = trust_tab.show_calibration(trust, cal_names, "lenet5")
    t = trust.calibration("lenet5")["temperature"]
    assert note.startswith(f"**lenet5**: temperature **{t:.2f}**. ECE") and diagram.axes
    assert list(cal_table["model"]) == cal_names
    assert trust_tab.show_calibration(trust, cal_names, "")[1].startswith("No calibration recorded")


def test_lenet_handlers_show_c1_for_the_drawing(service: Service) -> None:
    from ui import experiments_tab
    from ui.common import DRAW_FIRST, EXAMPLE_NOTE, example_pad

    filters, maps, msg = experiments_tab.c1_for_drawing(service, example_pad(), "lenet5")
    assert [im.get_array().shape for ax in filters.axes for im in ax.get_images()] == [(5, 5)] * 6
    titles = [ax.get_title() for ax in maps.axes if ax.get_images()]
    assert titles == ["input 28×28", *(f"map {i}" for i in range(1, 7))]
    assert [im.get_array().shape for ax in maps.axes for im in ax.get_images()] == [(28, 28)] * 7
    assert msg.startswith("Red = the filter's pattern is there") and "responds most strongly" in msg
    assert experiments_tab.c1_for_drawing(service, None, "lenet5_fc")[1:] == (None, DRAW_FIRST)
    assert experiments_tab.opened(service, None, "lenet5")[2].startswith(EXAMPLE_NOTE)  # blank pad: the example 7
    with pytest.raises(gr.Error, match="choose one of lenet5, lenet5_fc"):
        experiments_tab.c1_for_drawing(service, example_pad(), "cnn")
    assert experiments_tab.shipped_plots(None) == (None, None)  # no shipped shuffle results: nothing to draw


@needs_mnist
def test_shuffle_handler_proves_the_mlp_cannot_tell(service: Service) -> None:
    import re

    from ui import experiments_tab

    msg = experiments_tab.run_invariance(service, None)
    diff = float(re.search(r"original images is \*\*([0-9.e+-]+)\*\*", msg).group(1))
    assert msg.startswith("Take the committed `mlp`") and diff < 1e-3


def test_sincos_handler_streams_the_fit_and_stops(service: Service) -> None:
    from ui import sincos_tab

    frames = sincos_tab.run(service, "rnn", 8, 0.02, 5, 10, 1, 1.0, 0, 0, None)
    fit, loss, status, extra, gif, ctl = next(frames)  # the first step's frame
    assert set(fit.series) == {sincos_tab.TARGET, sincos_tab.PRED} and list(loss.step) == [1]
    assert status.startswith("Step **1/5** · MSE") and extra == gr.update() and gif == gr.update() and ctl.running
    with pytest.raises(gr.Error, match="a fit is already running in this tab"):
        next(sincos_tab.run(service, "rnn", 8, 0.02, 5, 10, 1, 1.0, 0, 0, ctl))
    assert sincos_tab.request_stop(ctl) == "Stopping after this step…"
    *_, last = frames
    assert last[2].startswith("Stopped after") and last[3].axes and last[4].endswith(".gif") and not ctl.running
    assert sincos_tab.request_stop(ctl) == "Nothing is running."
    with pytest.raises(gr.Error, match="hidden must be a whole number"):
        next(sincos_tab.run(service, "rnn", 2.5, 0.02, 5, 10, 1, 1.0, 0, 0, None))


@needs_mnist
def test_train_handlers_run_a_tiny_training_and_refuse_bad_settings(service: Service) -> None:
    from ui import train_tab

    *_, last = train_tab.run(service, 1, "mlp", "seed", 0.01, 64, 0.003, "adam", 100, None, False, None)
    session = last[-1]
    try:
        assert last[2].startswith("Done: mlp reached") and "“yours: mlp #1”" in last[2]
        assert last[9].endswith(".pt") and last[6].axes and last[7].axes and last[8].axes
        assert last[10]["value"] == "yours: mlp #1" and "yours: mlp #1" in last[11]["choices"]  # Draw, the other tab
    finally:
        session.close()
    with pytest.raises(gr.Error, match="epochs must be a positive number"):
        next(train_tab.run(service, 1, "cnn", "seed", 0, 64, 0.003, "adam", 1000, None, False, None))
    with pytest.raises(gr.Error, match="unknown optimiser 'rmsprop'"):
        next(train_tab.run(service, 1, "cnn", "seed", 1, 64, 0.003, "rmsprop", 1000, None, False, None))
    assert train_tab.request_stop(None) == "Nothing is training right now."
    e, b, r, o = train_tab._recipe_values("cnn", "best")
    assert train_tab.on_recipe(service, "cnn", "best") == (min(e, service.limits.max_epochs), b, r, o)
    recorded = train_tab.show_recorded(train_tab.recorded_figures, train_tab.FIRST_STATUS)
    assert recorded[2].startswith("**A recorded run**") and list(recorded[0].columns) == ["step", "loss"]
    assert train_tab.show_recorded(train_tab.recorded_figures, "Done: …") == (gr.update(),) * 5


def test_teach_handlers_save_remove_export_and_refuse_a_missing_label(service: Service) -> None:
    from pathlib import Path

    from ui import teach_tab
    from ui.common import example_pad

    with pytest.raises(gr.Error, match="a label is a digit 0-9, got None"):
        teach_tab.save(example_pad(), None, None)
    with pytest.raises(gr.Error, match="Draw a digit first"):
        teach_tab.save(None, "7", None)
    gallery, summary, prompt, label, pad, session = teach_tab.save(example_pad(), "7", None)
    try:
        assert [cap for _, cap in gallery] == ["7 · #1"] and summary.startswith("**1 of ")
        assert (prompt, label) == ("### Draw a **0**", "0") and pad["layers"] == []  # next: the digit with fewest
        note, same = teach_tab.save_correction(3, example_pad(), session)  # the Draw tab's "Wrong? It's a: 3"
        assert note.startswith("Saved as a **3** (2 of your drawings)") and same is session
        assert [cap for _, cap in teach_tab.remove(1, session)[0]] == ["3 · #2"]
        with pytest.raises(gr.Error, match="There is no drawing #9 in your set"):
            teach_tab.remove(9, session)
        exported = teach_tab.export(service, session)
        assert exported["visible"] and Path(exported["value"]).name == "my_digits.npz"
        with pytest.raises(gr.Error, match="steps must be a whole number from 10 to"):
            next(teach_tab.run(service, 1, "lenet5", 5, session))
    finally:
        session.close()
    with pytest.raises(gr.Error, match="Your set is empty"):
        teach_tab.export(service, None)
