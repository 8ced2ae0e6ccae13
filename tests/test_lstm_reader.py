"""The LSTM reading a digit row by row: per-row distributions, accuracy vs rows read, and the tab's endpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from mnist_demo.checkpoints import save_checkpoint
from mnist_demo.data import MnistSplit
from mnist_demo.experiments import lstm_reader
from mnist_demo.models import MLP, LSTMClassifier
from mnist_demo.plots import sequence as plots_sequence
from mnist_demo.registry import ModelRegistry
from mnist_demo.service import Service
from tests.support.apps import tab_client
from tests.support.data import needs_mnist
from ui.lstm_tab import build_lstm_tab


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small batches run faster on one torch thread, and two threads stall on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lstm(_one_thread) -> LSTMClassifier:
    """A seeded LSTM trained for a few steps on a synthetic 'one bar per class' set (so rows matter)."""
    torch.manual_seed(0)
    model = LSTMClassifier()
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(200) % 10
    x = torch.rand(200, 1, 28, 28, generator=g) * 0.1
    for i, k in enumerate(labels.tolist()):
        x[i, 0, 2 * k + 4: 2 * k + 6, 4:24] = 1.0
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def _bar_digit(k: int) -> np.ndarray:
    img = np.zeros((28, 28), np.float32)
    img[2 * k + 4: 2 * k + 6, 4:24] = 1.0
    return img


def test_per_row_probabilities_are_distributions_and_end_at_the_normal_prediction(lstm) -> None:
    img = _bar_digit(7)
    probs = lstm_reader.row_probabilities(lstm, img)
    assert probs.shape == (28, 10)
    assert (probs >= 0).all() and np.allclose(probs.sum(1), 1.0)
    with torch.no_grad():
        normal = lstm(torch.from_numpy(img).view(1, 1, 28, 28)).softmax(1)[0].numpy()
    np.testing.assert_allclose(probs[-1], normal, atol=1e-6)
    assert probs[-1].argmax() == 7
    # the bar of a 7 sits on rows 19-20: before reading it the LSTM cannot know it is a 7
    assert probs[:17, 7].max() < probs[-1, 7]


def test_summary_says_when_it_settles_and_becomes_sure() -> None:
    p = np.zeros((28, 10))
    p[:10, 0], p[:10, 3] = 0.8, 0.2  # says 0 at first ...
    p[10:, 0], p[10:, 3] = 0.4, 0.6  # ... switches to 3 at row 11 ...
    p[20:, 0], p[20:, 3] = 0.05, 0.95  # ... and is sure from row 21
    r = lstm_reader.summarise(p, threshold=0.9)
    assert (r.digit, r.settled_row) == (3, 11)
    assert r.sure_row == 21
    never = np.full((28, 10), 0.1)
    never[:, 4] = 0.2
    assert lstm_reader.summarise(never).sure_row is None


def test_only_the_lstm_reads_rows() -> None:
    with pytest.raises(ValueError, match="only the LSTM reads row by row"):
        lstm_reader.row_probabilities(MLP(), np.zeros((28, 28)))
    with pytest.raises(ValueError, match="28×28"):
        lstm_reader.row_probabilities(LSTMClassifier(), np.zeros((20, 28)))


def test_accuracy_by_rows_ends_at_the_full_accuracy_and_is_cached(lstm, tiny_split, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path))
    acc = lstm_reader.accuracy_by_rows(lstm, tiny_split)
    assert acc.shape == (28,) and ((acc >= 0) & (acc <= 1)).all()
    with torch.no_grad():
        full = (lstm(tiny_split.float_images()).argmax(1) == tiny_split.labels).double().mean().item()
    assert acc[-1] == pytest.approx(full)
    assert acc[0] < acc[-1]  # one row is not enough to read a digit
    assert list(tmp_path.glob("lstm_rows/*.npy"))  # written to the disk cache

    def boom(*_a, **_k):
        raise AssertionError("recomputed instead of using the cache")

    monkeypatch.setattr(lstm_reader, "_accuracy_by_rows", boom)
    np.testing.assert_array_equal(lstm_reader.accuracy_by_rows(lstm, tiny_split), acc)
    lstm_reader._cache.clear()  # the disk copy alone is enough
    np.testing.assert_array_equal(lstm_reader.accuracy_by_rows(lstm, tiny_split), acc)
    # a different model must not reuse that curve
    monkeypatch.undo()
    other = lstm_reader.accuracy_by_rows(LSTMClassifier(), tiny_split, use_disk=False)
    assert not np.array_equal(other, acc)


def test_pick_test_digit_checks_the_index(tiny_split: MnistSplit) -> None:
    img, label = lstm_reader.pick_test_digit(tiny_split, 13)
    assert img.shape == (28, 28) and img.dtype == np.float32 and img.max() <= 1 and label == 3
    for bad in (-1, 256, 2.5, "x", float("inf")):
        with pytest.raises(ValueError, match="whole number from 0 to 255"):
            lstm_reader.pick_test_digit(tiny_split, bad)


def test_figures(tmp_path) -> None:
    img = _bar_digit(2)
    hl = plots_sequence.row_highlight(img, 9)
    assert hl.shape == (224, 224, 3) and hl.dtype == np.uint8
    assert hl[8 * 8 + 4, 100, 0] >= 200  # row 9 (pixels 64-71) is tinted orange
    assert hl[8 * 27 + 4, 100].max() < 100  # unread rows are dimmed
    probs = np.full((28, 10), 0.1)
    acc = np.linspace(0.1, 0.98, 28)
    for i, fig in enumerate([plots_sequence.rows_heatmap(probs, row=5), plots_sequence.k_rows_accuracy(acc, 10000)]):
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / f"f{i}.png")


# ---------- through gradio_client ----------

@pytest.fixture(scope="module")
def client(lstm, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    save_checkpoint("lstm", lstm, {"accuracy": 0.5, "recipe": "seed"}, None, path=folder / "lstm.pt")
    service = Service(ModelRegistry("cpu", folder))
    with tab_client(lambda state, pad: build_lstm_tab(service, state, pad)) as c:
        yield c


def _pad(tmp_path, draw: bool) -> dict:
    im = Image.new("RGB", (280, 280), "white")
    if draw:
        ImageDraw.Draw(im).line([(140, 40), (140, 240)], fill="black", width=24)
    im.save(tmp_path / "pad.png")
    f = handle_file(str(tmp_path / "pad.png"))
    return {"background": f, "layers": [], "composite": f}


def test_endpoint_reads_the_drawing(client, tmp_path) -> None:
    image, label, heat, message, row, *_ = client.predict(_pad(tmp_path, True), "lstm", api_name="/lstm_read")
    assert row == 28 and image and heat
    assert len(label["confidences"]) == 3
    assert "after all 28 rows" in message
    image, label, _heat, message, *_ = client.predict(_pad(tmp_path, False), "lstm", api_name="/lstm_read")
    assert image is None and "Draw a digit" in message


def test_endpoint_row_slider_and_play(client, tmp_path) -> None:
    client.predict(_pad(tmp_path, True), "lstm", api_name="/lstm_read")  # the session now holds a reading
    image, label = client.predict(5, api_name="/lstm_row")
    assert image and len(label["confidences"]) == 3
    frames = list(client.submit(api_name="/lstm_play"))
    assert [f[2] for f in frames] == list(range(1, 29))


def test_endpoint_rejects_a_missing_model(client, tmp_path) -> None:
    with pytest.raises(Exception, match="no LSTM model is available"):
        client.predict(_pad(tmp_path, True), None, api_name="/lstm_read")


@needs_mnist
def test_endpoint_test_digit_and_accuracy_curve(client) -> None:
    _image, _label, _heat, message, row = client.predict(0, "lstm", api_name="/lstm_read_test")
    assert message.startswith("Test image #0 (a 7)") and row == 28
    with pytest.raises(Exception, match="9999"):
        client.predict(10_000, "lstm", api_name="/lstm_read_test")
    fig, text = client.predict("lstm", api_name="/lstm_accuracy")
    assert fig and "With all 28 rows" in text
