"""'Why this digit?': saliency, occlusion, feature maps, LSTM states, their figures and the tab's endpoints."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from mnist_demo import explain as E
from mnist_demo.drawing.preprocess import preprocess
from mnist_demo.models import CLASSIFIERS, build_model
from mnist_demo.plots import explain as P
from mnist_demo.registry import ModelRegistry
from tests.support.apps import lines_image, lines_pad, plot_pixels, tab_client
from tests.support.data import needs_mnist


def _fresh(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_model(name).eval()
    for p in m.parameters():  # as the registry serves them
        p.requires_grad_(False)
    return m


def _drawn(lines: list[tuple[int, int, int, int]]) -> np.ndarray:
    """A black-on-white pad drawing (280×280, 24 px strokes) preprocessed like Draw does."""
    pre = preprocess(lines_image(lines))
    assert pre is not None
    return pre.image


SEVEN = [(70, 50, 210, 50), (210, 50, 120, 240)]
ONE = [(140, 40, 140, 240)]


@pytest.fixture(scope="module")
def trained() -> dict[str, torch.nn.Module]:
    """The committed, trained checkpoints that load here (at least one is needed)."""
    reg = ModelRegistry("cpu")
    names = reg.available()
    if not names:
        pytest.skip("no committed checkpoint loads")
    return {n: reg.model(n) for n in names}


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("method", E.SALIENCY_METHODS)
def test_maps_have_the_input_shape_and_are_finite(name: str, method: str) -> None:
    ex = E.explain(_fresh(name), _drawn(SEVEN), method)
    for cm in (ex.top, ex.runner_up):
        assert cm.saliency.shape == (28, 28) and cm.occlusion.shape == (28, 28)
        assert np.isfinite(cm.saliency).all() and np.isfinite(cm.occlusion).all()
        assert np.abs(cm.occlusion).max() > 0  # blanking the ink changes the answer of any net
    assert ex.probs.shape == (10,) and abs(ex.probs.sum() - 1) < 1e-6


def test_occluding_an_all_zero_region_changes_nothing() -> None:
    img = np.zeros((28, 28), np.float32)
    img[2:9, 2:9] = 1.0  # ink only in the top-left corner
    m = _fresh("cnn")
    occ = E.occlusion_maps(m, img)
    # A pixel further than one patch from the ink is covered only by patches over blank background.
    far = np.ones((28, 28), bool)
    far[: 9 + E.PATCH, : 9 + E.PATCH] = False
    assert np.all(occ[:, far] == 0.0)
    assert np.abs(occ[:, 2:9, 2:9]).max() > 0
    # And a blank image: nothing to occlude at all.
    assert np.all(E.occlusion_maps(m, np.zeros((28, 28), np.float32)) == 0.0)


@pytest.mark.parametrize("name", ["cnn", "lenet5", "lstm"])
def test_batched_occlusion_equals_one_forward_per_patch(name: str) -> None:
    m, img = _fresh(name), _drawn(SEVEN)
    np.testing.assert_allclose(E.occlusion_maps(m, img), E.occlusion_maps(m, img, batched=False), atol=1e-5)


def _bbox(img: np.ndarray, thresh: float = 0.1) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(img > thresh)
    return ys.min(), ys.max(), xs.min(), xs.max()


def _assert_peak_in_ink(occ: np.ndarray, img: np.ndarray) -> None:
    r, c = np.unravel_index(np.argmax(occ), occ.shape)
    y0, y1, x0, x1 = _bbox(img)
    m = 3  # a map value stands for a 6-px patch around it, so a patch touching the ink's edge counts
    assert y0 - m <= r <= y1 + m and x0 - m <= c <= x1 + m, \
        f"largest drop at ({r}, {c}) outside the ink box {(y0, y1, x0, x1)}"


def test_largest_occlusion_drop_is_inside_the_ink_of_a_drawn_digit(trained) -> None:
    img = _drawn(ONE)
    for name, m in trained.items():
        ex = E.explain(m, img)
        assert ex.top.digit == 1, f"{name} reads a clear 1 as {ex.top.digit}"
        _assert_peak_in_ink(ex.top.occlusion, img)


@needs_mnist
def test_largest_occlusion_drop_is_inside_the_ink_on_mnist_digits(trained, mnist_test) -> None:
    imgs = mnist_test.images[:20].numpy() / 255.0
    for m in trained.values():
        for img, label in zip(imgs, mnist_test.labels[:20].tolist()):
            ex = E.explain(m, img)
            if ex.top.digit == label and ex.top.prob > 0.9:  # "clearly drawn": read right and confidently
                _assert_peak_in_ink(ex.top.occlusion, img)


def test_integrated_gradients_add_up_to_the_change_in_log_probability(trained) -> None:
    img = _drawn(SEVEN)
    for name, m in trained.items():
        ex = E.explain(m, img, "integrated")
        for cm in (ex.top, ex.runner_up):
            want = np.log(cm.prob) - np.log(E.class_probs(m, np.zeros((28, 28), np.float32))[cm.digit])
            got = float(E.saliency_maps(m, img, [cm.digit], "integrated", steps=256)[0].sum())
            assert abs(got - want) <= 0.05 * abs(want) + 0.05, f"{name} digit {cm.digit}: {got:.3f} vs {want:.3f}"


def test_runner_up_explanation_names_the_second_most_probable_class() -> None:
    for name in ("cnn", "lenet5", "mlp", "lstm"):
        ex = E.explain(_fresh(name), _drawn(SEVEN))
        order = np.argsort(ex.probs)[::-1]
        assert ex.top.digit == order[0] and ex.runner_up.digit == order[1] != ex.top.digit
        assert ex.runner_up.prob == pytest.approx(ex.probs[order[1]])
        fig = P.class_maps(ex.image, ex.runner_up.saliency, ex.runner_up.occlusion, ex.runner_up.digit,
                           ex.runner_up.prob, runner_up=True)
        assert f"make it a {order[1]}?" in fig._suptitle.get_text()


def test_gradient_saliency_reaches_blank_pixels_and_x_input_does_not() -> None:
    m, img = _fresh("cnn"), _drawn(SEVEN)
    g = E.saliency_maps(m, img, [3], "gradient")[0]
    gx = E.saliency_maps(m, img, [3], "grad_x_input")[0]
    blank = img == 0
    assert np.abs(g[blank]).max() > 0 and np.all(gx[blank] == 0)


EXPECTED_CONVS = {
    "cnn": [("conv1.0", (16, 28, 28)), ("conv2.0", (32, 14, 14))],
    "lenet5": [("c1", (6, 28, 28)), ("c3", (16, 10, 10)), ("c5", (120, 1, 1))],
    "lenet5_fc": [("c1", (6, 28, 28)), ("c3", (16, 10, 10))],
    "cnn_fc3": [("conv.0", (32, 28, 28)), ("conv.3", (64, 14, 14))],
    "simple_cnn": [("conv1", (6, 24, 24)), ("conv2", (6, 8, 8))],
    "mlp": [],
    "lstm": [],
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_conv_layer_is_captured_with_name_and_shape(name: str) -> None:
    m = _fresh(name)
    layers = E.conv_feature_maps(m, _drawn(SEVEN))
    assert [(lay.name, lay.shape) for lay in layers] == EXPECTED_CONVS[name]
    assert all(np.isfinite(lay.maps).all() and lay.layer.startswith("Conv2d(") for lay in layers)
    assert not any(mod._forward_hooks for mod in m.modules())  # hooks removed


def test_hooks_ignore_other_threads_using_the_same_model() -> None:
    m, img = _fresh("cnn"), _drawn(SEVEN)
    stop = threading.Event()

    def hammer() -> None:  # Draw predicting with the shared model meanwhile
        x = torch.rand(3, 1, 28, 28)
        while not stop.is_set():
            with torch.no_grad():
                m(x)

    t = threading.Thread(target=hammer)
    t.start()
    try:
        for _ in range(20):
            assert [lay.shape for lay in E.conv_feature_maps(m, img)] == [(16, 28, 28), (32, 14, 14)]
    finally:
        stop.set()
        t.join()


def test_lstm_hidden_state_over_rows() -> None:
    out = E.lstm_row_states(_fresh("lstm"), _drawn(SEVEN))
    assert out is not None
    states, digits = out
    assert states.shape == (28, 64) and np.isfinite(states).all() and np.abs(states).max() <= 1
    assert digits.shape == (28,) and set(digits.tolist()) <= set(range(10))
    assert E.lstm_row_states(_fresh("cnn"), _drawn(SEVEN)) is None


def test_explaining_leaves_the_model_untouched() -> None:
    m = build_model("lenet5").train()  # a model mid-training: grads on, training mode
    before = {k: v.clone() for k, v in m.state_dict().items()}
    E.explain(m, _drawn(SEVEN))
    E.conv_feature_maps(m, _drawn(SEVEN))
    assert m.training and all(p.requires_grad and p.grad is None for p in m.parameters())
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_bad_input_gets_a_plain_message() -> None:
    m = _fresh("mlp")
    with pytest.raises(ValueError, match="28×28"):
        E.explain(m, np.zeros((27, 28)))
    with pytest.raises(ValueError, match="NaN"):
        E.explain(m, np.full((28, 28), np.nan))
    with pytest.raises(ValueError, match="saliency method"):
        E.saliency_maps(m, np.zeros((28, 28)), [1], "magic")
    with pytest.raises(ValueError, match="patch"):
        E.occlusion_maps(m, np.zeros((28, 28)), patch=0)


def test_cache_answers_only_for_the_same_model_object() -> None:
    cache, calls = E.ExplainCache(size=2), []
    a, b = _fresh("mlp"), _fresh("mlp")

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute(("k",), a, compute) == 1
    assert cache.get_or_compute(("k",), a, compute) == 1  # hit
    assert cache.get_or_compute(("k",), b, compute) == 2  # same name, another visitor's model
    for k in ("x", "y"):
        cache.get_or_compute((k,), a, compute)
    assert cache.get_or_compute(("k",), b, compute) == 5  # evicted (LRU of 2)
    assert E.image_key(_drawn(SEVEN)) == E.image_key(_drawn(SEVEN)) != E.image_key(_drawn(ONE))


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_every_figure_renders() -> None:
    img = _drawn(SEVEN)
    m = _fresh("lenet5")
    ex = E.explain(m, img)
    layers = [(f"{lay.name} · {lay.layer}", lay.maps) for lay in E.conv_feature_maps(m, img)]
    states, digits = E.lstm_row_states(_fresh("lstm"), img)
    probs = np.random.default_rng(0).dirichlet(np.ones(10), 5)
    figs = [
        P.map_overlay(img, ex.top.saliency, "saliency", P.GUIDES["integrated"].format(d=7)),
        P.class_maps(img, ex.top.saliency, ex.top.occlusion, ex.top.digit, ex.top.prob),
        P.feature_map_grid(layers), P.feature_map_grid([]),
        P.lstm_states(img, states, digits), P.probability_bar(ex.probs),
        P.watch_lines([50, 100, 150, 200, 250], probs), P.watch_figure([50, 100, 150, 200, 250], probs),
        P.watch_figure([], np.zeros((0, 10))),
    ]
    for fig in figs:
        assert isinstance(fig, Figure) and _png(fig)[:4] == b"\x89PNG"
    titles = [ax.get_title(loc="left") for ax in figs[2].axes]
    assert "c5 · Conv2d(16→120, 5×5) → output 120×1×1 (one value per map)" in titles


# ---------- the tab, through gradio_client ----------

@pytest.fixture(scope="module")
def client(trained):
    from mnist_demo.service import Service
    from ui.explain_tab import build_explain_tab

    service = Service(ModelRegistry("cpu"))
    # State None: the handlers accept it (no visitor models), which is what an API client has anyway.
    with tab_client(lambda state, pad: build_explain_tab(service, state, pad)) as c:
        yield c


def test_tab_explains_the_current_drawing(client, trained, tmp_path) -> None:
    name = next(iter(trained))
    status, probs, top, ru = client.predict(lines_pad(tmp_path, ONE), name, "integrated", api_name="/explain")
    assert f"**{name}** reads a **1**" in status and "runner-up" in status
    for plot in (top, ru, probs):
        plot_pixels(plot)
    plot_pixels(client.predict(lines_pad(tmp_path, ONE), name, api_name="/activations"))


def test_tab_asks_for_a_drawing_when_the_pad_is_blank(client, trained, tmp_path) -> None:
    name = next(iter(trained))
    status, *plots = client.predict(lines_pad(tmp_path, []), name, "integrated", api_name="/explain")
    assert "Draw a digit" in status and plots == [None, None, None]
