"""Cold start (#18): building the app imports nothing heavy and traces nothing; what it ships instead is current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("openTSNE", "sklearn", "mnist_demo.embedding", "mnist_demo.live_tsne")

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
from mnist_demo.live_tsne import LiveTSNE  # noqa: F401  (and, through it, mnist_demo.embedding)
from mnist_demo.lenet_anatomy import traced_tables
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
    if a model changes, `python -m mnist_demo.lenet_anatomy` rewrites them."""
    from mnist_demo.lenet_anatomy import TABLES_PATH, shipped_tables, traced_tables

    assert TABLES_PATH.is_file(), "run: python -m mnist_demo.lenet_anatomy"
    assert shipped_tables() == traced_tables(), "stale: run python -m mnist_demo.lenet_anatomy"
