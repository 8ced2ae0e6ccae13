"""Checkpoint round trips, fp16 storage for big models, atomic writes and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mnist_demo.checkpoints import (
    CheckpointError,
    load_checkpoint,
    read_payload,
    save_checkpoint,
    storage_dtype,
)
from mnist_demo.config import TrainConfig
from mnist_demo.models import build_model


@pytest.mark.parametrize("name", ["cnn", "lstm", "cnn_fc3"])
def test_round_trip_gives_identical_logits(tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).eval()
    if storage_dtype(model) == torch.float16:  # what is stored is what is measured
        from mnist_demo.checkpoints import round_trip_weights

        round_trip_weights(model)
    path = save_checkpoint(name, model, {"accuracy": 0.5}, TrainConfig(), tmp_path / f"{name}.pt")
    loaded, meta = load_checkpoint(name, "cpu", path)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert meta["metrics"]["accuracy"] == 0.5 and meta["train_config"]["batch_size"] == 64
    assert set(meta["versions"]) == {"torch", "torchvision", "python"}


def test_big_model_is_stored_in_half_precision_under_10_mb(tmp_path: Path) -> None:
    model = build_model("cnn_fc3")
    assert storage_dtype(model) == torch.float16
    path = save_checkpoint("cnn_fc3", model, {}, TrainConfig(), tmp_path / "cnn_fc3.pt")
    assert path.stat().st_size < 10_000_000
    assert read_payload(path)["dtype"] == "float16"


def test_corrupt_and_missing_checkpoints_name_the_rebuild_command(tmp_path: Path) -> None:
    bad = tmp_path / "cnn.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="python -m mnist_demo.train --model cnn"):
        load_checkpoint("cnn", "cpu", bad)
    with pytest.raises(CheckpointError, match="missing.*python -m mnist_demo.train --model lstm"):
        load_checkpoint("lstm", "cpu", tmp_path / "lstm.pt")
    torch.save({"format": 1, "name": "cnn", "state_dict": {"x": torch.zeros(1)}}, bad)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint("cnn", "cpu", bad)


def test_wrong_model_in_file_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint("mlp", build_model("mlp"), {}, TrainConfig(), tmp_path / "cnn.pt")
    with pytest.raises(CheckpointError, match="holds 'mlp'"):
        load_checkpoint("cnn", "cpu", path)


def test_failed_write_leaves_the_old_file_intact(tmp_path: Path, monkeypatch) -> None:
    path = save_checkpoint("mlp", build_model("mlp"), {"accuracy": 0.9}, TrainConfig(), tmp_path / "mlp.pt")
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt  # as if the CLI were killed mid-write

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint("mlp", build_model("mlp"), {"accuracy": 0.1}, TrainConfig(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mlp.pt"]  # no temp files left behind


def test_recorded_metric_picks_the_draw_default(tmp_path: Path) -> None:
    """record_metric adds a figure without touching the weights; best(metric) prefers it over accuracy."""
    from mnist_demo.checkpoints import record_metric
    from mnist_demo.registry import PEN_METRIC, SKETCH_METRIC, ModelRegistry

    for name, acc in (("mlp", 0.99), ("simple_cnn", 0.95)):
        torch.manual_seed(0)
        save_checkpoint(name, build_model(name), {"accuracy": acc}, TrainConfig(), tmp_path / f"{name}.pt")
    before = read_payload(tmp_path / "simple_cnn.pt")["state_dict"]
    assert ModelRegistry("cpu", tmp_path).best(SKETCH_METRIC) == "mlp"  # nothing recorded: accuracy decides
    record_metric("simple_cnn", SKETCH_METRIC, 0.98, tmp_path / "simple_cnn.pt")
    record_metric("mlp", SKETCH_METRIC, 0.77, tmp_path / "mlp.pt")
    after = read_payload(tmp_path / "simple_cnn.pt")
    assert after["metrics"] == {"accuracy": 0.95, SKETCH_METRIC: 0.98}
    assert all(torch.equal(before[k], after["state_dict"][k]) for k in before)
    reg = ModelRegistry("cpu", tmp_path)
    assert reg.best(SKETCH_METRIC) == "simple_cnn" and reg.best("accuracy") == "mlp"
    assert reg.best() == "mlp"  # no pen figure recorded anywhere: test accuracy decides
    record_metric("simple_cnn", PEN_METRIC, 0.9, tmp_path / "simple_cnn.pt")
    assert ModelRegistry("cpu", tmp_path).best() == "simple_cnn"  # "best" = the best reader of real pen digits
    with pytest.raises(CheckpointError, match="missing"):
        record_metric("cnn", SKETCH_METRIC, 0.5, tmp_path / "cnn.pt")


@pytest.mark.parametrize("damage", [
    {"state_dict": [1, 2, 3]},  # a list where the weights go
    {"state_dict": {}},
    {"state_dict": {"w": "not a tensor"}},
    {"name": 7},
    {"metrics": ["a"]},
    {"train_config": "adam"},  # (None is fine: a checkpoint saved without a recipe)
])
def test_structurally_wrong_checkpoint_is_reported_like_a_corrupt_one(tmp_path: Path, damage: dict) -> None:
    """A well-formed torch file with the wrong payload shape: CheckpointError naming the fix, not AttributeError."""
    path = save_checkpoint("mlp", build_model("mlp"), {}, TrainConfig(), tmp_path / "mlp.pt")
    payload = torch.load(path, weights_only=True)
    payload.update(damage)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="malformed|holds"):
        load_checkpoint("mlp", "cpu", path)
    from mnist_demo.checkpoints import model_from_payload

    with pytest.raises(CheckpointError):
        model_from_payload(payload)
