"""Cold start (#18): building the app imports nothing heavy and traces nothing; what it ships instead is current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("openTSNE", "sklearn", "mnist_demo.tsne.algorithms", "mnist_demo.tsne.maps", "mnist_demo.tsne.cache",
         "mnist_demo.tsne.live")

# Counts torch.fx traces (patched before the app is imported), builds the app as main() does, reports what was
# imported; then does the heavy things on purpose, so a check that could not see them fails too.
PROBE = """
import json, sys
import torch.fx
traces = []
_trace = torch.fx.Tracer.trace
def counting(self, *a, **k):
    traces.append(1)
    return _trace(self, *a, **k)
torch.fx.Tracer.trace = counting
import app
from mnist_demo.registry import ModelRegistry
from mnist_demo.service import Service
app.build_demo(Service(ModelRegistry("cpu")))
built = {"modules": [m for m in HEAVY if m in sys.modules], "traces": len(traces)}
from mnist_demo.tsne.live import LiveTSNE  # noqa: F401  (and, through it, mnist_demo.tsne.algorithms)
from mnist_demo.tsne.cache import TsneMaps  # noqa: F401  (and mnist_demo.tsne.maps)
from mnist_demo.experiments.lenet_anatomy import traced_tables
traced_tables()
control = {"modules": [m for m in HEAVY if m in sys.modules], "traces": len(traces)}
print(json.dumps({"built": built, "control": control}))
"""


def test_building_the_app_imports_no_tsne_no_sklearn_and_traces_nothing() -> None:
    """import app + build_demo, in a fresh interpreter: openTSNE, scikit-learn and the t-SNE modules stay
    unimported and torch.fx traces nothing (the LeNet-5 tables are shipped); the probe does see them later."""
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["built"] == {"modules": [], "traces": 0}, res["built"]
    assert set(res["control"]["modules"]) == set(HEAVY) and res["control"]["traces"] >= 2, res["control"]


def test_shipped_lenet_tables_match_a_fresh_trace() -> None:
    """The LeNet-5 tab's tables (mnist_demo/results/lenet_tables.json) are what tracing the networks gives now;
    if a model changes, `python -m mnist_demo.experiments.lenet_anatomy` rewrites them."""
    from mnist_demo.experiments.lenet_anatomy import TABLES_PATH, shipped_tables, traced_tables

    assert TABLES_PATH.is_file(), "run: python -m mnist_demo.experiments.lenet_anatomy"
    assert shipped_tables() == traced_tables(), "stale: run python -m mnist_demo.experiments.lenet_anatomy"


def test_shipped_confusions_belong_to_their_checkpoints(tmp_path: Path) -> None:
    """The Evaluate tab's shipped confusion matrices (mnist_demo/results/confusions.json): each one that matches
    its checkpoint's hash sums to the 10,000 test images with the recorded accuracy on its diagonal; a changed
    checkpoint file gets none (the tab then shows the per-digit bars alone until `--confusions` is re-run), and
    every committed checkpoint has a current one (a stale file fails here, not silently in the tab)."""
    import numpy as np

    from mnist_demo.checkpoints import checkpoint_path
    from mnist_demo.recorded_run import CONFUSIONS_PATH, shipped_confusion

    data = json.loads(CONFUSIONS_PATH.read_text(encoding="utf-8"))
    assert data, "run: python -m mnist_demo.recorded_run --confusions"
    for name, entry in data.items():
        conf = shipped_confusion(name, checkpoint_path(name))
        assert conf is not None, f"{name}: checkpoint changed since; run python -m mnist_demo.recorded_run --confusions"
        m = np.asarray(conf)
        assert m.shape == (10, 10) and m.sum() == 10_000
        assert np.trace(m) / 10_000 == entry["accuracy"]
    name = next(iter(data))
    changed = tmp_path / f"{name}.pt"
    changed.write_bytes(checkpoint_path(name).read_bytes() + b"\0")
    assert shipped_confusion(name, changed) is None
    sizes = sum(p.stat().st_size for p in CONFUSIONS_PATH.parent.glob("*.json"))
    assert sizes <= 2_000_000, f"shipped results are {sizes:,} bytes; the issue allows 2 MB in all"


def test_shipped_calibration_belongs_to_the_committed_checkpoints() -> None:
    """The Trust and Evaluate tabs' reliability diagrams (mnist_demo/results/calibration.json) were made from the
    committed checkpoint files, byte for byte (else the tabs mark them stale)."""
    from mnist_demo.checkpoints import checkpoint_path
    from mnist_demo.models import CLASSIFIERS
    from mnist_demo.recorded_run import checkpoint_sha
    from mnist_demo.trust.calibration import CALIBRATION_PATH

    shas = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))["sha"]
    assert set(shas) == set(CLASSIFIERS)
    stale = [n for n, sha in shas.items() if checkpoint_sha(checkpoint_path(n)) != sha]
    assert not stale, f"stale calibration for {stale}: run python -m mnist_demo.trust.fit"


def test_the_example_digit_is_a_seven_to_every_model() -> None:
    """Tabs opened before anything is drawn show the example 7 (ui/common.example_pad): every committed model
    reads it as a 7, so the stand-in result a visitor first sees is a right one."""
    from mnist_demo.registry import ModelRegistry
    from mnist_demo.service import Service
    from ui.common import EXAMPLE_DIGIT, example_pad, pad_or_example

    service = Service(ModelRegistry("cpu"))
    _pre, _main, every = service.predict(example_pad(), service.model_names()[0])
    assert every and {p.model: int(p.probs.argmax()) for p in every} == {p.model: EXAMPLE_DIGIT for p in every}
    assert pad_or_example(service, None)[1] is True
    drawn = example_pad()
    assert pad_or_example(service, drawn) == (drawn, False)


def test_recorded_train_run_is_whole() -> None:
    """The Train tab's recorded run (mnist_demo/results/train_run.json) has a loss per logged step, an accuracy
    per evaluation, and a confusion matrix of the 10,000 test images agreeing with its accuracy."""
    import numpy as np

    from mnist_demo.recorded_run import load_run

    run = load_run()
    assert run is not None, "run: python -m mnist_demo.recorded_run"
    assert len(run["steps"]) == len(run["losses"]) > 10 and len(run["acc_steps"]) == len(run["accs"]) > 3
    m = np.asarray(run["confusion"])
    assert m.sum() == 10_000 and abs(np.trace(m) / 10_000 - run["accuracy"]) < 1e-4


def test_a_tab_that_fills_itself_never_shows_an_error_toast() -> None:
    """on_open wires tab.select with api_name=False and no spinner; when filling fails (no model, no MNIST), the
    outputs stay as they are instead of an error toast the visitor did nothing to cause."""
    import gradio as gr

    from ui.common import on_open

    wired = {}

    class FakeTab:
        def select(self, fn, inputs, outputs, **kw):
            wired.update(fn=fn, kw=kw)

    def fails(value: str) -> tuple:
        raise gr.Error("no LSTM model is available")

    on_open(FakeTab(), fails, ["in"], ["a", "b"])
    assert wired["kw"]["api_name"] is False and wired["kw"]["show_progress"] == "hidden"
    assert wired["fn"]("x") == (gr.update(), gr.update())
    on_open(FakeTab(), lambda v: v.upper(), ["in"], ["a"])
    assert wired["fn"]("x") == "X"
    on_open(None, fails, ["in"], ["a"])  # no tab (a tab built alone in a test): nothing wired, nothing raised
