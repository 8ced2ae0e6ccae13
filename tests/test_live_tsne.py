"""The live t-SNE worker: warm frames off the training thread, dropping when behind, the GIF, training with it."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_demo.config import TrainConfig
from mnist_demo.engine import evaluate, train_classifier
from mnist_demo.models import build_model
from mnist_demo.tsne.algorithms import knn_label_accuracy, last_layer_features, procrustes_disparity
from mnist_demo.tsne.live import LiveTSNE, write_gif


def _snapshots(n_snaps: int = 5, n: int = 200, d: int = 40, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Features of 4 classes that separate more with every snapshot, as a network's last layer does."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    centres = rng.normal(size=(4, d))
    noise = rng.normal(size=(n, d))
    return [((centres[labels] * (1 + 2 * t) + noise).astype(np.float32), labels) for t in range(n_snaps)]


def _run(snaps, wait: bool = True, **kw) -> LiveTSNE:
    kw.setdefault("backend", "thread")  # fast to start; the process backend has its own tests below
    live = LiveTSNE(perplexity=15, seed=0, **kw)
    for step, (f, y) in enumerate(snaps):
        live.submit(f, y, step=50 * (step + 1), test_acc=0.5 + 0.1 * step)
        if wait:
            assert live.wait(timeout=60)
    live.close()
    return live


def test_frames_are_warm_started_and_stable() -> None:
    live = _run(_snapshots(), render=False)
    frames = live.frames()
    assert [f.step for f in frames] == [50, 100, 150, 200, 250] and live.dropped == 0 and live.error is None
    assert [f.warm for f in frames] == [False, True, True, True, True]
    assert all(f.embedding.shape == (200, 2) and f.embedding.dtype == np.float32 for f in frames)
    assert frames[-1].test_acc == pytest.approx(0.9) and frames[-1].image is None
    # Consecutive frames keep their shape (no jumps or flips) while the clusters sharpen.
    assert max(procrustes_disparity(a.embedding, b.embedding) for a, b in itertools.pairwise(frames)) < 0.15
    assert knn_label_accuracy(frames[-1].embedding, frames[-1].labels) > 0.95


def test_same_snapshots_same_seed_same_frames_in_a_thread_or_a_child_process() -> None:
    a = _run(_snapshots(3), render=False).frames()
    b = _run(_snapshots(3), render=False).frames()
    live = _run(_snapshots(3), render=True, backend="process")
    c = live.frames()
    assert live.error is None and live._child is None  # the child ran the frames and has been ended
    for fa, fb, fc in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(fa.embedding, fb.embedding)
        # Across processes the last bits of float sums can differ (memory alignment picks other SIMD paths)
        # and t-SNE amplifies them, so the child's maps are the same picture, not the same bits.
        assert procrustes_disparity(fa.embedding, fc.embedding) < 0.1, procrustes_disparity(fa.embedding, fc.embedding)
        assert abs(knn_label_accuracy(fa.embedding, fa.labels) - knn_label_accuracy(fc.embedding, fc.labels)) < 0.03
        assert fc.image is not None and fc.image.ndim == 3


def test_a_dead_child_process_falls_back_to_the_thread() -> None:
    snaps = _snapshots(3)
    live = LiveTSNE(perplexity=15, render=False, backend="process")
    live.submit(*snaps[0], step=1)
    assert live.wait(timeout=120) and live.backend == "process"
    live._child.proc.kill()  # as if the OS had killed it
    live._child.proc.wait()
    for i, (f, y) in enumerate(snaps[1:], start=2):
        live.submit(f, y, step=i)
        assert live.wait(timeout=60)
    frames = live.close()
    assert [f.step for f in frames] == [1, 2, 3] and live.backend == "thread" and live.error is not None
    assert frames[-1].warm  # the thread carried on from the child's last frame


def test_closing_with_a_short_timeout_still_ends_the_child() -> None:
    f, y = _snapshots(1, n=300)[0]
    live = LiveTSNE(perplexity=15, render=True, backend="process")
    proc = live._child.proc
    live.submit(f, y, 1)
    live.close(drain=False, timeout=0.01)  # returns while the first frame may still be computing
    assert proc.wait(timeout=120) is not None  # the worker ends the child once its frame is done
    live._thread.join(timeout=30)
    assert not live._thread.is_alive() and live._child is None


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        LiveTSNE(backend="gpu")


def test_submit_returns_at_once_and_drops_snapshots_when_behind() -> None:
    snaps = _snapshots(1)[0]
    live = LiveTSNE(perplexity=15, render=False, backend="thread")
    for step in range(1, 21):  # far faster than any t-SNE frame: the worker must fall behind
        live.submit(snaps[0], snaps[1], step)
    frames = live.close(drain=True)
    assert frames[-1].step == 20  # the newest snapshot always gets drawn
    assert live.dropped > 0 and len(frames) + live.dropped == 20
    assert [f.index for f in frames] == list(range(len(frames)))


def test_a_short_burst_waits_in_the_backlog_instead_of_being_dropped() -> None:
    """Snapshots arriving while the worker starts up (the child's imports) are all drawn, in order."""
    snaps = _snapshots(1)[0]
    live = LiveTSNE(perplexity=15, render=False, backend="thread", backlog=3)
    for step in (50, 100, 150):
        live.submit(snaps[0], snaps[1], step)
    frames = live.close(drain=True)
    assert [f.step for f in frames] == [50, 100, 150] and live.dropped == 0


def test_a_long_run_keeps_a_bounded_evenly_thinned_history() -> None:
    f, y = _snapshots(1, n=100)[0]
    live = LiveTSNE(perplexity=10, render=False, max_frames=4, backend="thread")
    for step in range(1, 8):
        live.submit(f, y, step)
        assert live.wait(timeout=60)
    frames = live.close()
    assert len(frames) <= 4 and frames[0].step == 1 and frames[-1].step == 7
    assert [x.step for x in frames] == sorted(x.step for x in frames)


def test_latest_is_none_before_the_first_frame_and_closed_workers_refuse_snapshots() -> None:
    live = LiveTSNE(render=False, backend="thread")
    assert live.latest() is None and live.frames() == []
    live.close()
    with pytest.raises(RuntimeError, match="closed"):
        live.submit(np.zeros((100, 5), np.float32), np.zeros(100, int), 1)
    with pytest.raises(ValueError, match="features must be"):
        LiveTSNE(backend="thread").submit(np.zeros(100, np.float32), np.zeros(100, int), 1)


def test_gif_written_with_one_frame_per_snapshot(tmp_path) -> None:
    live = _run(_snapshots(4), render=True)
    frames = live.frames()
    assert all(f.image is not None and f.image.ndim == 3 for f in frames)
    path = write_gif(frames, tmp_path / "live.gif")
    assert path.stat().st_size > 1000
    with Image.open(path) as gif:
        assert gif.n_frames == 4 and gif.size == frames[0].image.shape[1::-1]
    with pytest.raises(ValueError, match="no frames"):
        write_gif([], tmp_path / "empty.gif")


def test_training_reaches_its_accuracy_with_the_live_map_on(tiny_split) -> None:
    """A small run: snapshots every evaluation go to the worker; the model learns exactly as without it."""
    cfg = TrainConfig(epochs=3, batch_size=32, lr=3e-3, eval_every=4, eval_size=256, log_every=4, seed=3)
    x_live = tiny_split.float_images("cpu", 200)
    y_live = tiny_split.labels[:200].numpy()

    def train(live: LiveTSNE | None) -> tuple[torch.nn.Module, list[float]]:
        torch.manual_seed(0)
        model = build_model("lenet5")
        accs = []
        for ev in train_classifier(model, cfg, tiny_split, tiny_split, "cpu"):
            if ev.test_acc is not None:
                accs.append(ev.test_acc)
                if live is not None:
                    live.submit(last_layer_features(model, x_live), y_live, ev.step, ev.test_acc)
        return model, accs

    _, accs_plain = train(None)
    live = LiveTSNE(perplexity=15, render=False)  # the default: frames in a child process
    with_live, accs_live = train(live)
    frames = live.close()
    assert accs_live == accs_plain  # features are taken under inference_mode and change nothing
    assert evaluate(with_live, tiny_split).accuracy > 0.8
    assert frames and frames[-1].step == 24 and live.error is None
    assert not any(t.name == "live-tsne" and t.is_alive() for t in threading.enumerate())
    assert live._child is None  # the child process is gone too
