"""Teach it (issue 20): the visitor's digit set, the fine-tune, its honest hold-out, and the app's endpoints."""

from __future__ import annotations

import io
import re
import threading
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from mnist_demo.background import thread_niceness
from mnist_demo.data import MnistSplit
from mnist_demo.models import build_model
from mnist_demo.my_digits import (
    CAPACITY,
    RAW_SIDE,
    DigitsFullError,
    DigitsImportError,
    MyDigits,
    raw_thumbnail,
    read_npz,
)
from mnist_demo.personalize import (
    PersonalizeConfig,
    Replay,
    TeachReport,
    personalize,
    predict_labels,
    split_holdout,
    teach,
)
from mnist_demo.session import VisitorSession
from mnist_demo.teaching import my_digits, next_prompt, save_drawing
from tests.support.data import needs_mnist


def bars(n: int, seed: int = 0, col: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """n synthetic digits (uint8 28×28): class k is a bar at row 2k+4 starting at column `col`."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    imgs = rng.integers(0, 30, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        imgs[i, 2 * k + 4: 2 * k + 6, col: col + 14] = 255
    return imgs, labels


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# ---------- the set ----------
def test_collect_remove_download_import_round_trip() -> None:
    imgs, labels = bars(6)
    mine = MyDigits()
    raw = np.full((RAW_SIDE, RAW_SIDE), 7, np.uint8)
    saved = [mine.add(imgs[k], int(labels[k]), raw) for k in range(6)]
    assert [d.id for d in saved] == [1, 2, 3, 4, 5, 6] and mine.counts()[:6] == [1] * 6
    assert mine.remove(saved[2].id) and not mine.remove(saved[2].id)  # gone, and only once
    assert [d.id for d in mine.items()] == [1, 2, 4, 5, 6]
    assert mine.add(imgs[0], 0).id == 7  # ids are never reused
    other = MyDigits()
    assert other.import_npz(mine.npz_bytes()) == 6
    a_img, a_lab, _ = mine.arrays()
    b_img, b_lab, _ = other.arrays()
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    assert np.array_equal(other.items()[0].raw, raw)
    # float model inputs are stored as the uint8 an MNIST file holds
    f = MyDigits()
    f.add(imgs[1].astype(np.float32) / 255, 1)
    assert np.array_equal(f.items()[0].image, imgs[1])


def test_set_is_bounded_and_imports_are_all_or_nothing() -> None:
    mine = MyDigits(capacity=3)
    imgs, labels = bars(3)
    for k in range(3):
        mine.add(imgs[k], int(labels[k]))
    with pytest.raises(DigitsFullError, match="full"):
        mine.add(imgs[0], 0)
    mine.remove(1)
    two = MyDigits()
    two.add(imgs[0], 0)
    two.add(imgs[1], 1)
    with pytest.raises(DigitsImportError, match="room for 1"):
        mine.import_npz(two.npz_bytes())
    assert len(mine) == 2  # nothing was added
    with pytest.raises(ValueError, match="0-9"):
        mine.add(imgs[0], 10)


def test_two_visitors_sets_never_mix() -> None:
    from tests.support.apps import lines_image

    a, b = VisitorSession(), VisitorSession()
    one = lines_image([(140, 40, 140, 240)])
    seven = lines_image([(80, 60, 200, 60), (200, 60, 120, 240)])
    assert save_drawing(a, one, 1) is not None
    assert save_drawing(b, seven, "7") is not None and save_drawing(b, seven, 7) is not None
    assert [d.label for d in my_digits(a).items()] == [1]
    assert [d.label for d in my_digits(b).items()] == [7, 7]
    assert my_digits(a) is not my_digits(b)
    assert save_drawing(a, np.full((280, 280), 255, np.uint8), 3) is None  # blank pad: nothing saved
    assert next_prompt(my_digits(a)) == 0 and next_prompt(my_digits(b)) == 0
    raw = my_digits(b).items()[0].raw
    assert raw.shape == (RAW_SIDE, RAW_SIDE) and raw.max() > 200  # the strokes, white on black


@pytest.mark.parametrize("payload, match", [
    (lambda: npz(images=np.zeros((2, 28, 27), np.uint8), labels=np.zeros(2, np.uint8)), "shape"),
    (lambda: npz(images=np.zeros((2, 28, 28), np.float32), labels=np.zeros(2, np.uint8)), "uint8"),
    (lambda: npz(images=np.zeros((2, 28, 28), np.uint8), labels=np.array([3, 10])), "0-9"),
    (lambda: npz(images=np.zeros((2, 28, 28), np.uint8), labels=np.array([-1, 2])), "0-9"),
    (lambda: npz(images=np.zeros((2, 28, 28), np.uint8), labels=np.zeros(3, np.uint8)), "labels must"),
    (lambda: npz(images=np.zeros((2, 28, 28), np.uint8), labels=np.array([1.0, 2.0])), "whole numbers"),
    (lambda: npz(images=np.zeros((0, 28, 28), np.uint8), labels=np.zeros(0, np.uint8)), "1 to"),
    (lambda: npz(images=np.zeros((2, 28, 28), np.uint8)), "expected arrays"),
    (lambda: npz(images=np.zeros((2, 28, 28), np.uint8), labels=np.zeros(2, np.uint8), evil=np.zeros(1)),
     "expected arrays"),
    (lambda: npz(images=np.array([{"a": 1}, None], dtype=object), labels=np.zeros(2, np.uint8)), "safely"),
    (lambda: b"not a zip file at all", "not an .npz"),
    (lambda: b"\0" * 4_000_000, "bytes"),
    (lambda: npz(images=np.zeros((CAPACITY + 1, 28, 28), np.uint8), labels=np.zeros(CAPACITY + 1, np.uint8)),
     "1 to"),
])
def test_bad_imports_get_a_clear_error(payload, match) -> None:
    mine = MyDigits()
    with pytest.raises(DigitsImportError, match=match):
        mine.import_npz(payload())
    assert len(mine) == 0


def test_an_npz_that_inflates_is_refused_before_reading(tmp_path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:  # 40 MB of zeros in a ~40 kB file
        zf.writestr("images.npy", b"\0" * 40_000_000)
        zf.writestr("labels.npy", b"\0" * 10)
    path = tmp_path / "bomb.npz"
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 200_000
    with pytest.raises(DigitsImportError, match="far too large"):
        read_npz(path)


def test_raw_thumbnail_is_downscaled_ink() -> None:
    ink = np.zeros((280, 280), np.float32)
    ink[:, 130:150] = 1
    t = raw_thumbnail(ink)
    assert t.shape == (RAW_SIDE, RAW_SIDE) and t.dtype == np.uint8 and t[:, 27].min() == 255 and t[:, 5].max() == 0


# ---------- the fine-tune ----------
def _replay() -> MnistSplit:
    imgs, labels = bars(400, seed=5)
    return MnistSplit(torch.from_numpy(imgs), torch.from_numpy(labels))


def test_replay_samples_every_part_without_concatenating() -> None:
    ones = MnistSplit(torch.full((50, 28, 28), 1, dtype=torch.uint8), torch.full((50,), 1))
    twos = MnistSplit(torch.full((150, 28, 28), 2, dtype=torch.uint8), torch.full((150,), 2))
    pool = Replay(ones, MnistSplit(torch.zeros((0, 28, 28), dtype=torch.uint8), torch.zeros(0, dtype=torch.long)),
                  twos)
    assert len(pool) == 200 and pool.parts[0] is ones and pool.parts[1] is twos  # the splits themselves, no copy
    x, y = pool.sample(4000, torch.Generator().manual_seed(0))
    assert torch.equal(x[:, 0, 0].long(), y)  # each image comes with its own label
    assert 0.2 < float((y == 1).float().mean()) < 0.3  # uniform over all 200 digits


def test_split_holdout_is_per_digit_and_disjoint() -> None:
    labels = np.array([0] * 8 + [1] * 3 + [2] * 2 + [3])
    train, held = split_holdout(labels, 0.25, seed=1)
    assert set(train) | set(held) == set(range(len(labels))) and not set(train) & set(held)
    assert np.bincount(labels[held], minlength=4).tolist() == [2, 1, 1, 0]  # a digit drawn once is never held out
    assert np.array_equal(split_holdout(labels, 0.25, seed=1)[1], held)  # fixed for a seed


def test_holdout_is_never_seen_by_the_finetune() -> None:
    imgs, labels = bars(40)
    ids = np.arange(100, 140)
    model = build_model("simple_cnn")
    events = list(teach(model, imgs, labels, ids, PersonalizeConfig(steps=12, batch_size=16, log_every=4),
                        _replay()))
    report = events[-1]
    assert isinstance(report, TeachReport)
    done = events[-2]
    assert done.done and done.seen_ids  # the final event names what went into batches
    held = set(report.holdout_ids.tolist())
    assert len(held) == 10 and held <= set(ids.tolist())  # 1 of each digit's 4 drawings
    assert done.seen_ids.isdisjoint(held) and done.seen_ids <= set(report.train_ids.tolist())
    assert not held & set(report.train_ids.tolist())


def test_finetune_on_a_tiny_synthetic_set_improves_it_and_leaves_the_base_alone() -> None:
    torch.manual_seed(0)
    base = build_model("simple_cnn")
    for p in base.parameters():
        p.requires_grad_(False)  # as the registry hands models out
    before = {k: v.clone() for k, v in base.state_dict().items()}
    teach_x, teach_y = bars(30, seed=1, col=10)  # "my hand": the bars sit further right
    test_x, test_y = bars(60, seed=2, col=10)
    acc0 = float((predict_labels(base, test_x) == test_y).mean())
    *_, last = personalize(base, teach_x, teach_y, PersonalizeConfig(steps=60, batch_size=32, lr=3e-3), _replay())
    acc1 = float((predict_labels(last.model, test_x) == test_y).mean())
    assert acc0 < 0.5 and acc1 >= 0.9, (acc0, acc1)
    assert last.model is not base and all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert not any(p.requires_grad for p in last.model.parameters())


def test_finetune_is_deterministic_with_a_seed() -> None:
    base = build_model("mlp")
    x, y = bars(20)
    cfg = PersonalizeConfig(steps=8, batch_size=16, seed=3)
    runs = [list(personalize(base, x, y, cfg, _replay()))[-1].model.state_dict() for _ in range(2)]
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    other = list(personalize(base, x, y, PersonalizeConfig(steps=8, batch_size=16, seed=4), _replay()))[-1]
    assert not all(torch.equal(runs[0][k], v) for k, v in other.model.state_dict().items())


def test_finetune_refuses_nothing_to_learn_and_the_ensemble() -> None:
    with pytest.raises(ValueError, match="no drawings"):
        next(personalize(build_model("mlp"), np.zeros((0, 28, 28), np.uint8), np.zeros(0), None, None))

    fake = nn.Linear(2, 2)
    fake.members = ["a", "b"]  # what an Ensemble has
    with pytest.raises(ValueError, match="single network"):
        next(personalize(fake, *bars(2)))


def test_finetune_stops_when_asked() -> None:
    stop = threading.Event()
    stop.set()
    events = list(personalize(build_model("mlp"), *bars(10), PersonalizeConfig(steps=50), None,
                              should_stop=stop.is_set))
    assert len(events) == 1 and events[0].stopped and events[0].step == 1 and events[0].model is not None


# ---------- the app's flow (committed checkpoints, MNIST) ----------
@needs_mnist
def test_teach_stream_runs_niced_counts_as_a_training_run_and_adopts_the_model(monkeypatch) -> None:
    from mnist_demo import teaching
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service
    from mnist_demo.session import SESSION_PREFIX

    seen = {}

    def tiny_replay():
        seen["nice"] = thread_niceness()
        seen["thread"] = threading.current_thread().name
        return _replay(), "tiny"

    monkeypatch.setattr(teaching, "replay_set", tiny_replay)
    service = Service(ModelRegistry("cpu"))
    session = VisitorSession()
    x, y = bars(20)
    for k in range(20):
        my_digits(session).add(x[k], int(y[k]))
    session.training = True
    with pytest.raises(RuntimeError, match="already have a training run"):
        next(teaching.teach_stream(service, session, "lenet5_fc"))
    session.training = False
    ups = []
    for up in teaching.teach_stream(service, session, "lenet5_fc", teaching.teach_config(service, 20)):
        assert session.training  # one run per visitor: the Train tab's cap covers this too
        ups.append(up)
    assert not session.training and seen["thread"] == "teach" and seen["nice"] >= thread_niceness() + 1
    last = ups[-1]
    assert last.done and last.model_name == SESSION_PREFIX + "lenet5_fc #1 taught"
    assert last.checkpoint.is_file() and "lenet5_fc #1 taught" in session.models
    assert len(last.report.holdout_ids) == 10 and set(last.images) == set(last.report.holdout_ids.tolist())
    model, _ = service.resolve(last.model_name, session)
    assert model is last.report.model
    with pytest.raises(ValueError, match="ensemble"):
        next(teaching.teach_stream(service, session, "ensemble"))


@needs_mnist
def test_endpoints_on_the_real_app(tmp_path) -> None:
    """Save drawings through /teach_save, fine-tune via /teach, the model reads the drawing via /predict;
    remove, export, import; a second visitor's set is empty."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from harness.server import local_client
    from tests.support.apps import lines_pad, running_app

    seven = [(70, 50, 210, 50), (210, 50, 110, 240), (110, 150, 190, 150)]  # a crossed 7
    with running_app() as url:
        a, b = local_client(url), local_client(url)
        for k in range(4):
            out = a.predict(lines_pad(tmp_path, [(x0 + 3 * k, y0, x1, y1) for x0, y0, x1, y1 in seven]), "7",
                            api_name="/teach_save")
        gallery, summary, prompt, _ = out[:4]
        assert len(gallery) == 4 and "**4 of" in summary and "7: 4" in summary and "Draw a **0**" in prompt
        with pytest.raises(AppError, match="empty"):
            b.predict(api_name="/teach_export")  # the other visitor has nothing
        loss, status, table, fixed, broken, ckpt, draw_dd, *_ = a.predict("lenet5_fc", 30, api_name="/teach")
        assert status.startswith("Done") and "held-out drawing" in status and str(ckpt).endswith(".pt")
        assert len(loss["data"]) >= 3 and isinstance(fixed, list) and isinstance(broken, list)
        assert draw_dd["value"] == "yours: lenet5_fc #1 taught"
        assert any(c[1] == "yours: lenet5_fc #1 taught" for c in draw_dd["choices"])
        assert [r[0].split(" (")[0] for r in table["data"]] == ["your held-out drawings", "MNIST test set", "fine-tune"]
        read = a.predict(lines_pad(tmp_path, seven), "yours: lenet5_fc #1 taught", api_name="/predict")
        assert read["label"] == "7"
        with pytest.raises(AppError, match="not in the list of choices|not one of your"):
            b.predict(lines_pad(tmp_path, seven), "yours: lenet5_fc #1 taught", api_name="/predict")
        gallery, summary = a.predict(2, api_name="/teach_remove")
        assert len(gallery) == 3 and "#2" not in " ".join(c for _, c in gallery)
        shown = a.predict(api_name="/teach_export")  # the file box appears with the file in it
        assert shown["visible"] is True
        path = shown["value"]
        images, labels, raw = read_npz(path)
        assert images.shape == (3, 28, 28) and labels.tolist() == [7, 7, 7] and raw.shape == (3, RAW_SIDE, RAW_SIDE)
        gallery, summary, *_ = b.predict(handle_file(path), api_name="/teach_import")
        assert len(gallery) == 3 and "7: 3" in summary
        bad = tmp_path / "bad.npz"
        bad.write_bytes(npz(images=np.zeros((1, 28, 28), np.uint8), labels=np.array([12])))
        with pytest.raises(AppError, match="0-9"):
            b.predict(handle_file(str(bad)), api_name="/teach_import")


@pytest.mark.browser
@pytest.mark.slow
@needs_mnist
def test_browser_draw_mark_as_wrong_finetune_and_the_new_model_reads_it() -> None:
    """In Chromium: draw a 7, press "Wrong? It's a: 7", fine-tune on the Teach it tab; the new model is the
    Draw tab's model and reads the drawing."""
    from harness.browser import DESKTOP, AppPage, launch_browser, unavailable_reason
    from tests.support.apps import running_app

    if unavailable_reason():
        pytest.skip(unavailable_reason())
    from playwright.sync_api import sync_playwright

    with running_app() as url, sync_playwright() as p:
        browser = launch_browser(p)
        try:
            app = AppPage(browser.new_page(viewport=DESKTOP)).goto(url)
            app.draw("7")
            app.act("#wrong-7")
            app.expect_text("#wrong-note", "Saved as a 7")
            app.open_tab("Teach it")
            app.expect_text("#teach-summary", "7: 1")
            app.set_number("#teach-steps", 40)
            app.act("#teach-start")
            app.expect_text("#teach-status", "Done")
            app.expect_text("#teach-status", "No held-out drawings yet")  # one drawing: nothing to hold out
            app.open_tab("Draw")
            model = app.page.locator("#draw-model input").first
            assert re.fullmatch(r"yours: \w+ #1 taught", model.input_value()), model.input_value()
            app.expect_text("#draw-message", re.compile(r"taught reads a 7\b"))
            assert app.top_label() == "7"
        finally:
            browser.close()
