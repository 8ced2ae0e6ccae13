"""Trust (issue 21): temperature scaling, the reject rule, the non-digit suite and the attack."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from mnist_demo.checkpoints import save_checkpoint
from mnist_demo.drawing.nondigits import EXCLUDED_LETTERS, KINDS, LETTERS, SHAPES, nondigit_suite, shape_strokes
from mnist_demo.drawing.preprocess import preprocess
from mnist_demo.models import build_model
from mnist_demo.plots import trust as plots_trust
from mnist_demo.registry import ModelRegistry
from mnist_demo.trust import attack as atk
from mnist_demo.trust.calibration import apply_temperature, ece, fit_temperature, record_temperature, reliability
from mnist_demo.trust.reject import (
    RejectRule,
    auroc,
    class_statistics,
    load_rule,
    mahalanobis,
    max_softmax,
    save_rule,
)


# ---------- calibration ----------
def _overconfident(n: int = 4000, sharpen: float = 3.0, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Logits of a synthetic model `sharpen` times too sure: labels drawn from softmax(z), logits sharpen * z."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 10, generator=g) * 2
    y = torch.multinomial(z.softmax(1), 1, generator=g)[:, 0].numpy()
    return z * sharpen, y


def test_temperature_fit_lowers_the_ece_of_an_overconfident_model() -> None:
    z, y = _overconfident()
    before = ece(z.softmax(1).numpy(), y)
    t = fit_temperature(z, y)
    after = ece((z / t).softmax(1).numpy(), y)
    assert 2.4 < t < 3.6, t  # it recovers the over-sharpening
    assert before > 0.1 and after < 0.03 and after < before / 4, (before, after)
    assert (z / t).argmax(1).equal(z.argmax(1))  # scaling never changes the answer


def test_ece_and_reliability_of_a_perfectly_calibrated_toy() -> None:
    probs = np.array([[0.8, 0.2]] * 10)
    labels = np.array([0] * 8 + [1] * 2)  # 80 % confident, 80 % right
    assert ece(probs, labels) == pytest.approx(0.0)
    rel = reliability(probs, labels)
    assert sum(rel.count) == 10 and rel.ece == pytest.approx(0.0)
    with pytest.raises(ValueError):
        ece(probs, labels[:3])


def test_apply_temperature_divides_logits_once_and_survives_a_copy() -> None:
    torch.manual_seed(0)
    model = build_model("mlp").eval()
    x = torch.rand(4, 1, 28, 28)
    raw = model(x).detach()
    apply_temperature(model, 2.0)
    apply_temperature(model, 2.0)  # replaces, does not stack
    assert torch.allclose(model(x), raw / 2.0) and model.temperature == 2.0
    assert torch.allclose(copy.deepcopy(model)(x), raw / 2.0)
    for bad in (None, "x", float("nan"), float("inf"), -1.0, 0.0, 1e6):
        apply_temperature(model, bad)
        assert torch.allclose(model(x), raw) and model.temperature == 1.0


def test_registry_applies_the_recorded_temperature(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("mlp").eval()
    path = save_checkpoint("mlp", model, {"accuracy": 0.5}, None, tmp_path / "mlp.pt")
    x = torch.rand(2, 1, 28, 28)
    raw = model(x).detach()
    record_temperature("mlp", 1.7, {"fitted_on": "test"}, path)
    loaded, meta = ModelRegistry("cpu", tmp_path).get("mlp")
    assert meta["temperature"] == pytest.approx(1.7)
    assert torch.allclose(loaded(x), raw / 1.7, atol=1e-5)
    with pytest.raises(ValueError):
        record_temperature("mlp", float("nan"), None, path)


# ---------- reject ----------
def test_mahalanobis_and_auroc_on_synthetic_features() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 50)
    centres = rng.normal(0, 5, (10, 8))
    f = centres[y] + rng.normal(0, 1, (500, 8))
    means, prec = class_statistics(f, y)
    near = mahalanobis(centres[:3] + 0.1, means, prec)
    far = mahalanobis(rng.normal(0, 5, (3, 8)) + 30, means, prec)
    assert (far > near.max()).all()
    assert auroc([0, 1, 2], [3, 4, 5]) == 1.0 and auroc([3, 4], [0, 1]) == 0.0 and auroc([1, 1], [1, 1]) == 0.5


def _toy_rule() -> RejectRule:
    return RejectRule([("distance", "mlp"), ("energy", "mlp"), ("msp", "mlp")], {"mlp": (np.zeros((10, 8)), np.eye(8))},
                      np.zeros(3), np.ones(3), np.array([1.0, 0.5, 0.5]), 0.0, 0.6, {"fit": {}})


def test_max_softmax_is_higher_for_an_unsure_model() -> None:
    sure, unsure = np.array([[9.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]), np.zeros((1, 10))
    assert max_softmax(sure)[0] < -0.99 and max_softmax(unsure)[0] == pytest.approx(-0.1)


def test_reject_rule_round_trips_and_a_broken_file_means_no_rule(tmp_path) -> None:
    rule = _toy_rule()
    save_rule(rule, tmp_path)
    back = load_rule(tmp_path)
    assert back is not None and back.threshold == 0.6 and back.models == ["mlp"]
    torch.manual_seed(0)
    sig = back.raw_signals({"mlp": build_model("mlp").eval()}, torch.rand(3, 1, 28, 28))
    assert sig.shape == (3, 3) and np.isfinite(sig).all()
    assert sig[:, 2].min() >= -1.0 and sig[:, 2].max() <= -0.1  # minus the top probability of 10 classes
    assert set(back.contributions(sig[0])) == {"distance", "energy", "msp"}
    (tmp_path / "reject.npz").write_bytes(b"not a zip")
    assert load_rule(tmp_path) is None
    arrays = rule.to_arrays()
    del arrays["precision.mlp"]
    np.savez(tmp_path / "reject.npz", **arrays)
    assert load_rule(tmp_path) is None


def test_the_committed_rule_ranks_a_scribble_above_a_clean_digit() -> None:
    """The shipped reject rule scores a blank-ish scribble as less digit-like than the example 7."""
    from mnist_demo.service import Service
    from mnist_demo.trust.facade import Trust
    from ui.common import example_pad

    service = Service(ModelRegistry("cpu"))
    trust = Trust(service)
    if trust.rule() is None:
        pytest.skip("no committed reject rule (python -m mnist_demo.trust.fit)")
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, 60)
    pts = np.stack([140 + 100 * np.sin(23 * t) * rng.uniform(0.6, 1, 60), 140 + 90 * np.cos(17 * t)], 1)
    from mnist_demo.drawing.pen_data import draw_strokes
    from mnist_demo.drawing.sketches import to_pad_image

    scribble = to_pad_image(draw_strokes([pts.astype(np.float32)], 280, 3))
    scores = {}
    for name, value in (("seven", example_pad()), ("scribble", scribble)):
        pre, _main, every = service.predict(value, "best")
        scores[name] = trust.verdict(pre, every)
    assert scores["scribble"].score > scores["seven"].score
    assert not scores["seven"].flagged, scores  # (whether this thin scribble crosses the threshold is a measurement)


# ---------- the non-digit suite ----------
def test_nondigit_suite_is_fixed_balanced_and_leaves_out_digit_like_letters() -> None:
    a, b = nondigit_suite(seed=5, n=12), nondigit_suite(seed=5, n=12)
    assert all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, b))
    assert [x["kind"] for x in a] == list(KINDS) * 2
    assert not set(EXCLUDED_LETTERS) & set(LETTERS) and set("OolISZBgq") <= set(EXCLUDED_LETTERS)
    assert all(x["image"].shape[2] == 4 and preprocess(x["image"]) is not None for x in a)
    for s in SHAPES:
        assert shape_strokes(s, np.random.default_rng(0))


# ---------- the attack ----------
class _Tiny(nn.Module):
    """A tiny linear classifier on 28×28 pixels (the attack needs nothing more)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1)) * 5


def test_attack_flips_a_tiny_model_within_its_budget_and_leaves_the_drawing_alone() -> None:
    model = _Tiny().eval()
    for p in model.parameters():
        p.requires_grad_(False)  # as the registry serves models
    img = np.zeros((28, 28), np.float32)
    img[6:22, 12:16] = 1.0
    before = img.copy()
    res = atk.attack(model, img, 0.3)
    assert np.array_equal(img, before)  # the visitor's drawing is not changed
    assert res.flipped and res.digit != res.label
    assert np.abs(res.adversarial - img).max() <= 0.3 + 1e-6
    assert res.adversarial.min() >= 0 and res.adversarial.max() <= 1
    assert res.min_eps is not None and res.min_eps <= 0.3
    assert int(model(torch.from_numpy(res.min_adversarial).view(1, 1, 28, 28)).argmax()) != res.label
    target = (res.label + 1) % 10
    t = atk.attack(model, img, 0.5, target=target)
    assert t.flipped and t.digit == target
    ink = atk.attack(model, img, 0.3, ink_only=True)
    assert (ink.adversarial - img >= -1e-7).all()  # ink only: nothing gets darker
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("eps", [float("nan"), float("inf"), -0.1, 0, 0.51, 5, "abc", None])
def test_bad_eps_gets_a_plain_message(eps) -> None:
    with pytest.raises(ValueError, match="ε must be"):
        atk.attack(_Tiny().eval(), np.zeros((28, 28), np.float32), eps)


@pytest.mark.parametrize("target", [10, -1, 2.5, "seven", float("nan")])
def test_bad_target_gets_a_plain_message(target) -> None:
    with pytest.raises(ValueError, match="target must be a digit"):
        atk.attack(_Tiny().eval(), np.zeros((28, 28), np.float32), 0.1, target=target)


def test_bad_images_get_a_plain_message() -> None:
    for img in (np.zeros((10, 10)), np.full((28, 28), np.nan)):
        with pytest.raises(ValueError, match="28×28"):
            atk.attack(_Tiny().eval(), img, 0.1)


def test_trust_figures_are_figures() -> None:
    rel = reliability(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1])).as_dict()
    assert isinstance(plots_trust.reliability_diagram([("a", rel, rel), ("b", rel, rel)]), Figure)
    img = np.zeros((28, 28))
    assert isinstance(plots_trust.attack_panels(img, img + 0.1, img + 0.2, ["a", "b", "c", "d"]), Figure)
    assert math.isfinite(rel["ece"])


def test_both_attacks_in_one_batch_match_the_separate_ones() -> None:
    """The Fool-it request searches the free and the ink-only attack in the same batches: same answers."""
    model = _Tiny().eval()
    img = np.zeros((28, 28), np.float32)
    img[6:22, 12:16] = 1.0
    both = atk.attacks(model, img, 0.2, modes=(False, True))
    for res, ink in zip(both, (False, True)):
        alone = atk.attack(model, img, 0.2, ink_only=ink)
        assert (res.min_eps, res.digit, res.flipped) == (alone.min_eps, alone.digit, alone.flipped)
        assert np.allclose(res.adversarial, alone.adversarial, atol=1e-6)


# ---------- the Fool-it endpoint, as a stranger calls it ----------
@pytest.fixture(scope="module")
def fool_client():
    from mnist_demo.service import Service
    from tests.support.apps import tab_client
    from ui.trust_tab import build_trust_tab

    service = Service(ModelRegistry("cpu"))
    with tab_client(lambda st, pad: build_trust_tab(service, st, pad)) as client:
        yield client


def test_fool_it_endpoint_attacks_a_drawing_and_lists_every_model(fool_client, tmp_path) -> None:
    from tests.support.apps import lines_pad

    seven = lines_pad(tmp_path, [(78, 62, 200, 58), (200, 58, 130, 228)])
    fig, msg, table = fool_client.predict(seven, "simple_cnn", 0.3, "any", api_name="/fool")
    assert "smallest ε" in msg or "No ε up to" in msg, msg
    assert fig and len(table["data"]) >= 7  # every committed model (and the ensemble) on the perturbed image


@pytest.mark.parametrize("eps", ["nan", "abc", "inf", 5, -1])
def test_fool_it_refuses_bad_eps_with_a_clear_message(fool_client, tmp_path, eps) -> None:
    from gradio_client.exceptions import AppError

    from tests.support.apps import lines_pad

    seven = lines_pad(tmp_path, [(78, 62, 200, 58), (200, 58, 130, 228)])
    with pytest.raises(AppError, match="ε|must be|number|minimum|maximum"):
        fool_client.predict(seven, "simple_cnn", eps, "any", api_name="/fool")


def test_the_attack_queue_has_a_public_budget() -> None:
    import app

    assert app.QUEUE_BUDGETS["attack"].per_client == 1 and app.QUEUE_BUDGETS["attack"].waiting <= 16
