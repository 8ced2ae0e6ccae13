"""LeNet-5 anatomy: traced layer tables, C5 conv == Linear(400->120), C1 filters and maps, the LeNet tab."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from mnist_demo.checkpoints import load_checkpoint
from mnist_demo.experiments.lenet_anatomy import (
    first_layer_filters,
    first_layer_maps,
    layer_table,
    logit_difference,
    transfer_c5_to_fc,
)
from mnist_demo.models import MLP, LeNet5, LeNet5FC, build_model
from mnist_demo.plots import experiments as pe
from tests.support.apps import tab_client
from tests.support.data import needs_mnist


@pytest.fixture(autouse=True)
def one_thread():
    """Single-threaded: for these tiny nets two threads on a busy 2-core box ran many times slower (measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# The seed's arithmetic, as a reader of seed 001 expects to see it.
SEED_CHAIN = {"C1": "6@28×28", "S2": "6@14×14", "C3": "16@10×10", "S4": "16@5×5", "F6": "84", "output": "10"}


def _by_layer(rows: list) -> dict[str, object]:
    return {r.layer: r for r in rows}


def _hooked_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """Output shape of every leaf module, captured with forward hooks on a real forward pass."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [m.register_forward_hook(lambda mod, inp, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
               for n, m in model.named_modules() if n and not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in handles:
        h.remove()
    return shapes


@pytest.mark.parametrize("name", ["lenet5", "lenet5_fc"])
def test_layer_table_follows_the_seed_arithmetic(name: str) -> None:
    rows = _by_layer(layer_table(build_model(name)))
    for layer, shape in SEED_CHAIN.items():
        assert rows[layer].output == shape, (layer, rows[layer].output)
    assert rows["C5"].output == ("120@1×1" if name == "lenet5" else "120")
    assert rows["C5"].parameters == 16 * 5 * 5 * 120 + 120  # 48,120 either way
    assert "32" in rows["C1"].arithmetic  # 28 padded by 2 = the paper's 32x32
    if name == "lenet5_fc":
        assert rows["flatten"].output == "400" and "16·5·5 = 400" in rows["flatten"].arithmetic


@pytest.mark.parametrize("name", ["lenet5", "lenet5_fc"])
def test_layer_table_matches_forward_hooks_and_parameter_counts(name: str) -> None:
    model = build_model(name)
    rows = _by_layer(layer_table(model))
    hooked = _hooked_shapes(model)
    for module_name, shape in hooked.items():
        display = "output" if module_name == "head" else module_name.upper()
        expected = f"{shape[0]}@{shape[1]}×{shape[2]}" if len(shape) == 3 else str(shape[0])
        assert rows[display].output == expected
        assert rows[display].parameters == sum(p.numel() for p in dict(model.named_modules())[module_name].parameters())
    assert rows["total"].parameters == sum(p.numel() for p in model.parameters()) == 61_706


def test_layer_table_is_traced_not_typed() -> None:
    # The paper's own network: no padding on a true 32×32 input. Same chain, different arithmetic.
    paper = LeNet5()
    paper.c1 = nn.Conv2d(1, 6, 5)
    rows = _by_layer(layer_table(paper, image_size=32))
    assert rows["input"].output == "1@32×32" and rows["C1"].output == "6@28×28"
    assert rows["C1"].arithmetic.startswith("32 − 5 + 1 = 28")
    # Change C5's width (the seed: "120 is your choice") and the table follows the module.
    narrow = LeNet5()
    narrow.c5, narrow.f6 = nn.Conv2d(16, 100, 5), nn.Linear(100, 84)
    rows = _by_layer(layer_table(narrow))
    assert rows["C5"].output == "100@1×1" and rows["C5"].parameters == 16 * 25 * 100 + 100
    assert [r.output for r in layer_table(MLP())][:3] == ["1@28×28", "784", "8"]


def test_transfer_gives_identical_logits_on_random_weights() -> None:
    torch.manual_seed(0)
    conv = LeNet5().eval()
    fc = transfer_c5_to_fc(conv)
    assert isinstance(fc, LeNet5FC) and fc.c5.weight.shape == (120, 400)
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        assert (conv(x) - fc(x)).abs().max() <= 1e-4
        fc.c5.weight.zero_()  # a copy, not a view: the source network is untouched
        assert conv.c5.weight.abs().sum() > 0


def test_transfer_keeps_the_calibration_temperature() -> None:
    """The app's models divide their logits by a fitted temperature: the copy must do the same."""
    from mnist_demo.trust.calibration import apply_temperature

    torch.manual_seed(0)
    conv = apply_temperature(LeNet5().eval(), 0.8)
    fc = transfer_c5_to_fc(conv)
    x = torch.rand(16, 1, 28, 28)
    with torch.no_grad():
        assert fc.temperature == 0.8 and (conv(x) - fc(x)).abs().max() <= 1e-4


def test_transfer_rejects_other_models() -> None:
    for wrong in (LeNet5FC(), MLP(), build_model("simple_cnn")):
        with pytest.raises(ValueError, match="LeNet5"):
            transfer_c5_to_fc(wrong)


@needs_mnist
def test_committed_lenet5_equals_its_fc_copy_on_the_whole_test_set(mnist_test) -> None:
    conv, _ = load_checkpoint("lenet5")
    eq = logit_difference(conv, transfer_c5_to_fc(conv), mnist_test)
    assert eq.n_images == 10_000
    assert eq.max_abs_diff <= 1e-4
    assert eq.same_predictions == 10_000
    assert eq.max_abs_logit > 1.0  # the logits are not trivially zero
    # and a genuinely different network is far from it, so the check can fail
    other, _ = load_checkpoint("lenet5_fc")
    assert logit_difference(conv, other, mnist_test, n=500).max_abs_diff > 0.1


def test_first_layer_filters_and_maps() -> None:
    torch.manual_seed(0)
    model = LeNet5().eval()
    filters = first_layer_filters(model)
    assert filters.shape == (6, 5, 5) and np.allclose(filters, model.c1.weight[:, 0].detach().numpy())
    img = np.zeros((28, 28), np.float32)
    img[4:24, 13:15] = 1.0  # a vertical "1"
    maps = first_layer_maps(model, img)
    assert maps.shape == (6, 28, 28)
    with torch.no_grad():
        ref = model.c1(model.normalise(torch.from_numpy(img)[None, None]))[0].numpy()
    assert np.allclose(maps, ref)
    with pytest.raises(ValueError, match="28×28"):
        first_layer_maps(model, np.zeros((10, 10)))
    with pytest.raises(ValueError, match="C1"):
        first_layer_filters(MLP())


def test_anatomy_figures_render() -> None:
    model = LeNet5().eval()
    img = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    for fig in (pe.filters_grid(first_layer_filters(model)), pe.feature_maps(img, first_layer_maps(model, img))):
        assert isinstance(fig, Figure)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.tell() > 1000


# ---------- the tab, through gradio_client ----------
@pytest.fixture(scope="module")
def lenet_client():
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service
    from mnist_demo.session import VisitorSession
    from ui.experiments_tab import build_lenet_tab

    service = Service(ModelRegistry("cpu"))
    with tab_client(lambda state, pad: build_lenet_tab(service, state, pad), VisitorSession) as c:
        yield c


def test_tab_shows_c1_maps_for_a_drawing(lenet_client, tmp_path) -> None:
    from gradio_client import handle_file
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(im).line([(140, 40), (140, 240)], fill="black", width=24)
    im.save(tmp_path / "one.png")
    f = handle_file(str(tmp_path / "one.png"))
    filters, maps, msg = lenet_client.predict({"background": f, "layers": [], "composite": f}, "lenet5",
                                              api_name="/lenet_c1")
    assert filters is not None and maps is not None and "Map" in msg


def test_tab_asks_for_a_drawing_when_the_pad_is_blank(lenet_client, tmp_path) -> None:
    from gradio_client import handle_file
    from PIL import Image

    Image.new("RGB", (280, 280), "white").save(tmp_path / "blank.png")
    f = handle_file(str(tmp_path / "blank.png"))
    _filters, maps, msg = lenet_client.predict({"background": f, "layers": [], "composite": f}, "lenet5_fc",
                                               api_name="/lenet_c1")
    assert maps is None and "draw a digit" in msg.lower()


@needs_mnist
def test_tab_proves_the_equivalence(lenet_client) -> None:
    text = lenet_client.predict(api_name="/lenet_equivalence")
    assert "✅ the same network" in text and "NOT" not in text and "10,000 of 10,000" in text
