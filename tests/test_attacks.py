"""What a stranger's script can send a public app (issue 17), sent over raw HTTP to the real server in public mode.

Each attack must get a clear refusal (HTTP 4xx/503 with a message, or the event's error) and a normal visitor's
/predict, from another address, must keep answering during and after it. The attacker connects from 127.0.0.2.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from harness.raw_http import RawClient, bomb_png, fake_header_png, random_bytes, seven_png, top_label
from harness.server import free_port

ATTACKER = "127.0.0.2"


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    import app
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service
    from mnist_demo.session import PUBLIC_LIMITS

    with tempfile.TemporaryDirectory() as tmp:
        service = Service(ModelRegistry("cpu"), PUBLIC_LIMITS, temp_root=Path(tmp) / "visitors")
        demo = app.build_demo(service)
        opts = app.serve_options(demo, public=True)
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **opts)
        visitor, attacker = RawClient(demo.local_url), RawClient(demo.local_url, ATTACKER)
        try:
            yield {"demo": demo, "service": service, "visitor": visitor, "attacker": attacker}
        finally:
            visitor.close()
            attacker.close()
            demo.close()


def assert_visitor_predicts(visitor: RawClient) -> None:
    """A normal visitor's drawn 7 is read as a 7, by file (API) and by blob (the page's way)."""
    assert top_label(visitor.predict()) == "7"
    assert top_label(visitor.predict_by_blob()) == "7"


def pad_block(srv: dict) -> Any:
    return srv["demo"].blocks[srv["visitor"].pad_id]


# ---------- 1. size guard on the blob path, decompression bombs ----------

@pytest.mark.parametrize("data, status, words", [
    (bomb_png(4100), 422, "4,100×4,100 pixels"),  # decodes to 4100x4100x4 without the check
    (fake_header_png(30_000, 30_000), 422, "30,000×30,000 pixels"),  # 900 MP: PIL's own limit is 179 MP
    (random_bytes(50_000), 422, "not an image"),
    (random_bytes(2_100_000), 413, "at most 2,000,000"),
])
def test_blob_route_refuses_bad_images_before_decoding(server: dict, data: bytes, status: int, words: str) -> None:
    a = server["attacker"]
    r = a.blob(a.session(), uuid.uuid4().hex[:12], data)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert_visitor_predicts(server["visitor"])


def test_a_bomb_already_held_is_refused_when_the_event_uses_it(server: dict) -> None:
    """Even a blob that got into gradio's store (a gradio path that skips accept_blobs) is checked in preprocess."""
    a, pad = server["attacker"], pad_block(server)
    from gradio.components.image_editor import EditorDataBlobs

    session, blob_id = a.session(), "planted"
    pad.blob_storage[blob_id] = EditorDataBlobs(background=None, layers=[], composite=bomb_png(4100))
    reply = a.call("predict", [{"id": blob_id, "background": None, "layers": [], "composite": None}, "cnn"],
                   session)
    assert not reply.ok and "4,100×4,100 pixels" in reply.message
    assert blob_id not in pad.blob_storage, "a refused blob is dropped, not kept for another try"
    assert_visitor_predicts(server["visitor"])


def test_uploaded_bomb_is_refused_with_its_size(server: dict) -> None:
    a = server["attacker"]
    reply = a.call("predict", [a.pad_value(fake_header_png(20_000, 20_000)), "cnn"])
    assert not reply.ok and "20,000×20,000 pixels" in reply.message
    assert_visitor_predicts(server["visitor"])


# ---------- 2. blobs nobody uses ----------

def test_unused_blobs_are_capped_per_client_and_expire(server: dict) -> None:
    a, pad = server["attacker"], pad_block(server)
    held = pad.held
    for i in range(3 * held.per_client):  # new ids, never used by an event
        assert a.blob(a.session(), f"unused-{i}", seven_png()).status_code == 200
    mine = [k for k, (_, who, _) in held.entries.items() if who == ATTACKER]
    assert len(mine) == held.per_client, "a client holds more than its share of blobs"
    assert set(mine) <= set(pad.blob_storage)
    assert all(k.startswith("unused-") for k in mine) and f"unused-{3 * held.per_client - 1}" in mine  # newest kept
    # Expiry: with a zero time-to-live the next post clears every old entry, whoever posted it.
    ttl, held.ttl = held.ttl, 0.0
    try:
        assert a.blob(a.session(), "last", seven_png()).status_code == 200
    finally:
        held.ttl = ttl
    assert set(pad.blob_storage) == {"last"}
    assert_visitor_predicts(server["visitor"])


def test_one_client_cannot_evict_another_clients_blob(server: dict) -> None:
    a, v = server["attacker"], server["visitor"]
    session = v.session()
    assert v.blob(session, "visitor-drawing", seven_png()).status_code == 200
    for i in range(40):
        a.blob(a.session(), f"flood-{i}", seven_png())
    reply = v.call("predict", [{"id": "visitor-drawing", "background": None, "layers": [], "composite": None},
                               "cnn"], session)
    assert top_label(reply) == "7"
    assert "visitor-drawing" not in pad_block(server).blob_storage, "a used blob is freed"


# ---------- 3. layers ----------

@pytest.mark.parametrize("index", [1, 50, 10**9, "x"])
def test_blob_layers_beyond_the_first_are_refused(server: dict, index: Any) -> None:
    a = server["attacker"]
    r = a.blob(a.session(), uuid.uuid4().hex[:12], seven_png(), kind="layer", index=index)
    assert r.status_code == 400 and "1 layer" in r.json()["detail"]
    assert_visitor_predicts(server["visitor"])


def test_a_value_listing_many_layers_is_refused(server: dict) -> None:
    a = server["attacker"]
    reply = a.call("predict", [a.pad_value(bomb_png(3000), layers=50), "cnn"])
    assert not reply.ok and "at most 1 layer" in reply.message
    assert top_label(a.call("predict", [a.pad_value(layers=1), "cnn"])) == "7"  # one layer is fine
    assert_visitor_predicts(server["visitor"])


def test_malformed_blob_posts_get_a_message(server: dict) -> None:
    a = server["attacker"]
    assert a.blob(a.session(), "", seven_png()).status_code == 400
    assert a.blob(a.session(), "x" * 65, seven_png()).status_code == 400
    r = a.blob(a.session(), "k", seven_png(), kind="overlay")
    assert r.status_code == 400 and "background, layer or composite" in r.json()["detail"]


# ---------- 5. floods of expensive jobs from fresh sessions ----------

@pytest.mark.mnist
def test_training_flood_from_fresh_sessions_is_refused_and_predict_still_works(server: dict) -> None:
    a, v = server["attacker"], server["visitor"]
    args = ["cnn", "seed", 0.05, 64, 0.01, "adam", 2000, None, False]
    first, session = a.join("train", args)
    assert first.status_code == 200
    refused = [a.join("train", args)[0] for _ in range(5)]  # each from a new session hash
    assert all(r.status_code == 503 for r in refused)
    assert all("already have 1 request" in r.json()["detail"] for r in refused)
    assert_visitor_predicts(v)  # while the attacker's run is queued or running
    done = a.result(session, first.json()["event_id"])
    assert done.ok, done.message  # the one allowed run is served in full
    assert a.join("train", args)[0].status_code == 200  # and the client may start the next one afterwards
    assert_visitor_predicts(v)


def test_joins_sent_at_once_cannot_all_pass_the_per_client_cap(server: dict) -> None:
    """20 /predict joins from one client at the same instant (fresh sessions): exactly its 8 get in."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from app import QUEUE_BUDGETS

    a, v = server["attacker"], server["visitor"]
    pad = a.pad_value()
    # Hold every prediction until all joins are answered: one that finished early would rightly let a 9th in.
    service, gate = server["service"], threading.Event()
    real = service.read_drawing
    service.read_drawing = lambda *args, **kw: (gate.wait(60), real(*args, **kw))[1]
    try:
        with ThreadPoolExecutor(20) as pool:
            joins = list(pool.map(lambda _: a.join("predict", [pad, "cnn"]), range(20)))
    finally:
        gate.set()
        del service.read_drawing
    accepted = [(r, s) for r, s in joins if r.status_code == 200]
    assert len(accepted) == QUEUE_BUDGETS["predict"].per_client
    assert server["demo"]._queue._budget_peaks["predict"] == QUEUE_BUDGETS["predict"].per_client  # what abuse.py reads
    assert all("already have" in r.json()["detail"] for r, _ in joins if r.status_code != 200)
    assert all(top_label(a.result(s, r.json()["event_id"])) == "7" for r, s in accepted)  # those are served
    assert_visitor_predicts(v)


@pytest.mark.mnist
def test_map_flood_and_odd_perplexities(server: dict) -> None:
    a, v = server["attacker"], server["visitor"]
    reply = a.call("tsne_map", ["cnn", 500, 3.3, "scatter"])
    assert not reply.ok and "minimum" in reply.message.lower()
    first, session = a.join("tsne_map", ["cnn", 500, 30.4, "scatter"])
    assert first.status_code == 200
    again = [a.join("tsne_map", ["cnn", 500, 30 + k / 7, "scatter"])[0] for k in range(4)]
    assert all(r.status_code == 503 and "already have" in r.json()["detail"] for r in again)
    assert_visitor_predicts(v)
    done = a.result(session, first.json()["event_id"])
    assert done.ok and "perplexity 30 ·" in done.data[1]  # 30.4 was rounded to the slider's step
    reply = a.call("tsne_map", ["cnn", 700, 29.6, "scatter"])  # 700 points -> 500, 29.6 -> 30: the same map
    assert reply.ok and "from the cache" in reply.data[1] and "500 test digits" in reply.data[1]


@pytest.mark.mnist
def test_group_budget_keeps_predict_open_when_many_clients_queue_trainings(server: dict) -> None:
    """Ten clients (ten addresses) queue trainings: the train group fills, /predict has its own budget."""
    from app import QUEUE_BUDGETS

    v = server["visitor"]
    budget = QUEUE_BUDGETS["train"]
    args = ["cnn", "seed", 0.05, 64, 0.01, "adam", 1000, None, False]
    clients = [RawClient(v.url, f"127.0.1.{i}") for i in range(budget.waiting + 4)]
    try:
        joins = [(c, *c.join("train", args)) for c in clients]
        statuses = [r.status_code for _, r, _ in joins]
        assert statuses.count(503) >= 2, statuses
        full = [r for _, r, _ in joins if r.status_code == 503]
        assert all("Too many requests of this kind" in r.json()["detail"] for r in full)
        assert_visitor_predicts(v)
        for c, r, session in joins:  # the accepted ones are served
            if r.status_code == 200:
                assert c.result(session, r.json()["event_id"]).ok
    finally:
        for c in clients:
            c.close()
    assert_visitor_predicts(v)


# ---------- 4 and 6: disk and per-session bounds (core, no HTTP) ----------

def test_visitor_files_stay_under_the_cap_oldest_first(tmp_path: Path) -> None:
    import os

    from mnist_demo.tempfiles import TempFiles

    files = TempFiles(tmp_path, max_bytes=10_000)
    written = []
    for i in range(8):
        p = files.folder() / f"run{i}.pt"
        p.write_bytes(b"x" * 3_000)
        os.utime(p, (1000 + i, 1000 + i))
        written.append(p)
        files.enforce(keep=p)
    assert files.used_bytes() <= 10_000
    assert [p.exists() for p in written] == [False] * 5 + [True] * 3
    folder = written[-1].parent
    TempFiles.remove(folder)
    assert not folder.exists()


def test_a_session_ending_removes_its_files(tmp_path: Path) -> None:
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service
    from mnist_demo.session import VisitorSession

    service = Service(ModelRegistry("cpu"), temp_root=tmp_path)
    session = VisitorSession()
    folder = service.visitor_folder(session)
    (folder / "a.pt").write_bytes(b"1")
    session.close()
    assert not folder.exists()


def test_session_models_are_capped_per_visitor_and_in_total(tmp_path: Path) -> None:
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service
    from mnist_demo.session import PUBLIC_LIMITS, VisitorSession

    service = Service(ModelRegistry("cpu"), PUBLIC_LIMITS, temp_root=tmp_path)
    one = VisitorSession()
    for i in range(PUBLIC_LIMITS.max_models_per_session + 2):
        dropped = service.adopt(one, f"mlp #{i}", nn.Linear(10, 10), {})
    assert list(one.models) == [f"mlp #{i}" for i in range(2, PUBLIC_LIMITS.max_models_per_session + 2)]
    assert dropped == ["mlp #1"]
    big = int(PUBLIC_LIMITS.max_visitor_models_mb * 1e6 / 4 / 3.5)  # float32 params: 3 fit the budget, 4 do not
    sessions = [VisitorSession() for _ in range(4)]
    for k, s in enumerate(sessions):
        service.adopt(s, "big", _Holder(big), {})
        assert "big" in s.models, k
    assert "big" not in sessions[0].models, "the oldest visitor model goes once all together pass the budget"
    assert all("big" in s.models for s in sessions[1:])


class _Holder(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(n), requires_grad=False)


def test_map_requests_are_rounded_to_the_sliders_steps() -> None:
    from mnist_demo.tsne.cache import snap_map_request

    assert snap_map_request(700, 29.6) == (500, 30.0)
    assert snap_map_request(10_000, 100) == (10_000, 100.0)
    assert snap_map_request("1200", 5.49) == (1000, 5.0)
    for n, perp in [(499, 30), (10_001, 30), (500, 4.9), (500, float("nan")), (500, "abc"), (float("inf"), 30)]:
        with pytest.raises(ValueError):
            snap_map_request(n, perp)


def test_tsne_disk_cache_keeps_to_its_size(tmp_path: Path) -> None:
    import os

    from mnist_demo.tsne.cache import TsneMaps

    maps = TsneMaps(tmp_path, max_disk_bytes=2_500)
    for i in range(5):
        p = tmp_path / f"m{i}.npz"
        p.write_bytes(b"x" * 1_000)
        os.utime(p, (1000 + i, 1000 + i))
    maps._trim_disk(keep=tmp_path / "m0.npz")
    # m1-m3 removed, oldest first; m0 (just written) stays
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["m0.npz", "m4.npz"]


# ---------- 7. public mode whenever others can reach the app ----------

@pytest.mark.parametrize("argv, env, public", [
    ([], {}, False),
    (["--host", "127.0.0.1"], {}, False),
    (["--host", "0.0.0.0"], {}, True),
    (["--host", "0.0.0.0", "--private"], {}, False),
    (["--share"], {}, True),
    (["--public"], {}, True),
    (["--public", "--private"], {}, True),
    ([], {"SPACE_ID": "someone/mnist"}, True),
    ([], {"SYSTEM": "spaces"}, True),
    ([], {"GRADIO_SERVER_NAME": "0.0.0.0"}, True),
    (["--private"], {"SPACE_ID": "someone/mnist"}, False),
])
def test_public_mode_is_on_whenever_others_can_reach_the_app(monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                                             env: dict[str, str], public: bool) -> None:
    import app

    for key in ("SPACE_ID", "SYSTEM", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args: argparse.Namespace = app.parse_args(argv)
    assert app.is_public(args) is public


def test_private_app_has_no_budgets_and_public_app_does(server: dict) -> None:
    import gradio as gr

    import app

    assert server["demo"]._queue_budgets["predict"] == app.QUEUE_BUDGETS["predict"]
    with gr.Blocks() as private:
        gr.Textbox()
    app.serve_options(private, public=False)
    assert getattr(private, "_queue_budgets", None) is None
