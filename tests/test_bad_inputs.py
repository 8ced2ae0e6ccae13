"""Bad input sent to the real app: every case is answered with a message and the server keeps serving.

Each case goes through gradio_client as a stranger's script would (raw HTTP for what the client refuses to
send: NaN, infinity, a server file path). A case passes when the answer — a gr.Error or an explanatory
output — matches what a visitor should read, and a normal prediction still works right after it.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from harness.server import local_client
from tests.support.apps import running_app
from tests.support.data import needs_mnist

NAN, INF = float("nan"), float("inf")
NOT_IMAGE = "not an image this app can read"
BLANK = '"label": "draw a digit"'  # what /predict answers for a blank pad (never probabilities)
SEVEN = '"label": "7"'
CHOICES = "not in the list of choices"
GENERIC = "upstream Gradio app has raised an exception"  # gradio's answer when it refuses a request itself


def _seven(size: int = 280, mode: str = "L", ink: int = 0, paper: int = 255) -> Image.Image:
    """A clear 7 drawn in proportion to `size` (black on white unless told otherwise)."""
    im = Image.new(mode, (size, size), paper)
    s = size / 280
    ImageDraw.Draw(im).line([(70 * s, 50 * s), (210 * s, 50 * s), (119 * s, 240 * s)], fill=ink,
                            width=max(1, round(24 * s)), joint="curve")
    return im


def _png_bytes(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def _make_files(d: Path) -> dict[str, Path]:
    """Every upload the matrix sends, written once per module."""
    out: dict[str, Path] = {}

    def put(name: str, data: bytes | Image.Image, **save: Any) -> None:
        out[name] = d / name
        if isinstance(data, bytes):
            out[name].write_bytes(data)
        else:
            data.save(out[name], **save)

    seven = _seven()
    put("seven.png", seven.convert("RGBA"))
    put("blank.png", Image.new("RGBA", (280, 280), "white"))
    put("clear.png", Image.new("RGBA", (280, 280), (0, 0, 0, 0)))  # fully transparent
    speck = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(speck).rectangle([139, 139, 140, 140], fill=0)
    put("speck.png", speck)
    rng = np.random.default_rng(0)
    put("faint.png", Image.fromarray(rng.integers(240, 256, (280, 280)).astype(np.uint8)))
    put("one_pixel.png", Image.new("L", (1, 1), 0))
    put("huge.png", _seven(10_000))
    put("sixteen_bit.png", Image.fromarray((np.asarray(seven, np.uint16) * 257).astype(np.uint16)))
    put("la.png", seven.convert("LA"))
    pal = seven.convert("RGB").convert("P", palette=Image.ADAPTIVE, colors=4)
    put("palette.png", pal, transparency=int(pal.getpixel((0, 0))))  # P with a transparent background
    put("cmyk.jpg", seven.convert("CMYK"), quality=90)
    put("one_bit.png", seven.convert("1"))
    put("int32.tiff", Image.fromarray(np.asarray(seven, np.int32) * 1000))
    fl = np.asarray(seven, np.float32)
    fl[:8, :8], fl[8:16, :8], fl[16:24, :8] = np.nan, np.inf, -np.inf
    put("nan_inf.tiff", Image.fromarray(fl, mode="F"))
    put("inverted.png", _seven(ink=255, paper=0))  # white ink on black, like MNIST itself
    frames = [seven.convert("P"), Image.new("L", (280, 280), 255).convert("P")]
    put("animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100)
    put("not_image.png", b"hello, I am a text file with an image's name\n")
    put("empty.png", b"")
    put("truncated.png", _png_bytes(seven)[:300])
    put("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><path d="M4 4h20L12 26"/></svg>')
    put("checkpoint.png", (Path(__file__).resolve().parents[1] / "checkpoints" / "mlp.pt").read_bytes())
    put("small_layer.png", _seven(100).convert("RGBA"))
    return out


@dataclass(frozen=True)
class Pad:
    """Placeholder for a Sketchpad value made of one of the matrix's files."""

    file: str
    layer: str | None = None  # a separate layer file (no composite): background + layer, like the editor sends


@dataclass(frozen=True)
class ServerFile:
    """Placeholder for a Sketchpad value naming a file by its path on the server (sent by raw HTTP)."""

    path: str


@dataclass(frozen=True)
class Case:
    """One bad input: the endpoint, its arguments, and a regex the visitor's answer must contain."""

    id: str
    api: str
    args: tuple
    expect: str
    error: bool | None = None  # True: must be a gr.Error · False: must be an output · None: either
    raw: bool = False  # send as plain JSON over HTTP (NaN/inf, server paths)


T = ("lenet5", "seed")  # training arguments before epochs …
OK_TRAIN = (1.0, 64, 0.003, "adam", 1000)

CASES = [
    # ---- the pad: empty, blank and near-blank ----
    Case("pad-none", "/predict", (None, "lenet5"), BLANK, error=False),
    Case("pad-all-none", "/draw", ({"background": None, "layers": [], "composite": None}, "lenet5"),
         "Draw a digit", error=False),
    Case("pad-blank-white", "/predict", (Pad("blank.png"), "lenet5"), BLANK, error=False),
    Case("pad-fully-transparent", "/predict", (Pad("clear.png"), "lenet5"), BLANK, error=False),
    Case("pad-one-speck", "/predict", (Pad("speck.png"), "lenet5"), BLANK, error=False),
    Case("pad-faint-noise", "/draw", (Pad("faint.png"), "lenet5"), "Draw a digit", error=False),
    Case("pad-1x1", "/predict", (Pad("one_pixel.png"), "lenet5"), BLANK, error=False),
    # ---- sizes, dtypes, channel counts ----
    Case("pad-10000x10000", "/predict", (Pad("huge.png"), "lenet5"), r"10,000×10,000 pixels", error=True),
    Case("pad-16-bit-png", "/predict", (Pad("sixteen_bit.png"), "lenet5"), SEVEN, error=False),
    Case("pad-LA-png", "/predict", (Pad("la.png"), "lenet5"), SEVEN, error=False),
    Case("pad-P-transparent-png", "/predict", (Pad("palette.png"), "lenet5"), SEVEN, error=False),
    Case("pad-CMYK-jpeg", "/predict", (Pad("cmyk.jpg"), "lenet5"), SEVEN, error=False),
    Case("pad-1-bit-png", "/predict", (Pad("one_bit.png"), "lenet5"), SEVEN, error=False),
    Case("pad-32-bit-int-tiff", "/predict", (Pad("int32.tiff"), "lenet5"), SEVEN, error=False),
    Case("pad-float-tiff-nan-inf", "/predict", (Pad("nan_inf.tiff"), "lenet5"), SEVEN, error=False),
    Case("pad-white-on-black", "/predict", (Pad("inverted.png"), "lenet5"), SEVEN, error=False),
    Case("pad-animated-gif", "/predict", (Pad("animated.gif"), "lenet5"), SEVEN, error=False),
    Case("pad-layer-of-another-size", "/predict", (Pad("blank.png", layer="small_layer.png"), "lenet5"),
         BLANK, error=False),
    # ---- files that are not images ----
    Case("file-text", "/predict", (Pad("not_image.png"), "lenet5"), NOT_IMAGE, error=True),
    Case("file-empty", "/draw", (Pad("empty.png"), "lenet5"), NOT_IMAGE, error=True),
    Case("file-truncated-png", "/predict", (Pad("truncated.png"), "lenet5"), NOT_IMAGE, error=True),
    Case("file-svg", "/predict", (Pad("vector.svg"), "lenet5"), NOT_IMAGE, error=True),
    Case("file-checkpoint-as-png", "/explain", (Pad("checkpoint.png"), "lenet5", "integrated"), NOT_IMAGE,
         error=True),
    Case("file-text-to-activations", "/activations", (Pad("not_image.png"), "lenet5"), NOT_IMAGE, error=True),
    Case("file-huge-to-lstm", "/lstm_read", (Pad("huge.png"), "lstm"), "pixels", error=True),
    # ---- server paths and URLs instead of uploads: refused by gradio before any handler runs ----
    Case("server-path-etc-passwd", "/predict", (ServerFile("/etc/passwd"), "lenet5"), GENERIC, error=True, raw=True),
    Case("server-path-png-in-tmp", "/predict", (ServerFile("{files}/seven.png"), "lenet5"), GENERIC, error=True,
         raw=True),
    Case("server-url-localhost", "/predict", (ServerFile("{url}gradio_api/info"), "lenet5"), GENERIC, error=True,
         raw=True),
    # ---- other tabs with a blank pad ----
    Case("explain-blank", "/explain", (Pad("blank.png"), "lenet5", "integrated"), "Draw a digit", error=False),
    Case("lenet-c1-none", "/lenet_c1", (None, "lenet5"), "Draw a digit", error=False),
    Case("lstm-read-blank", "/lstm_read", (Pad("blank.png"), "lstm"), "Draw a digit", error=False),
    Case("eye-steps-blank", "/eye_steps", (Pad("blank.png"), "lenet5", True, True, True, True), "Draw a digit",
         error=False),
    Case("eye-probe-not-image", "/probe", (Pad("empty.png"),), NOT_IMAGE, error=True),
    # ---- model names ----
    Case("model-unknown", "/predict", (Pad("seven.png"), "resnet152"), CHOICES, error=True),
    Case("model-someone-elses", "/predict", (Pad("seven.png"), "yours: lenet5 #1"), CHOICES, error=True),
    Case("model-a-path", "/evaluate", ("../checkpoints/lenet5.pt",), CHOICES, error=True),
    Case("model-none", "/evaluate", (None,), "choose a model", error=True),
    Case("model-unknown-explain", "/explain", (Pad("seven.png"), "lenet5", "deep dream"), CHOICES, error=True),
    # ---- numbers and sliders: out of range, non-numeric, NaN, infinity ----
    Case("index-negative", "/dataset_example", (-1,), "whole number from 0 to 59999", error=True),
    Case("index-too-big", "/dataset_example", (60_000,), "whole number from 0 to 59999", error=True),
    Case("index-text", "/dataset_example", ("abc",), "must be a number", error=True),
    Case("index-nan", "/dataset_example", (NAN,), "finite number", error=True, raw=True),
    Case("index-inf", "/dataset_example", (INF,), "finite number", error=True, raw=True),
    Case("grid-seed-negative", "/dataset_grid", (-5,), "whole number", error=True),
    Case("class-not-a-digit", "/dataset_class", ("11", 0), CHOICES, error=True),
    Case("class-page-huge", "/dataset_class", ("3", 1e9), "greater than maximum", error=True),
    Case("class-page-text", "/dataset_class", ("3", "next"), "must be a number", error=True),
    Case("lstm-test-index-too-big", "/lstm_read_test", (10_000, "lstm"), "greater than maximum", error=True),
    Case("lstm-row-nan", "/lstm_row", (NAN,), "finite number", error=True, raw=True),
    Case("lstm-row-none", "/lstm_row", (None,), "must be a number", error=True),
    Case("lstm-row-text", "/lstm_row", ("x",), "must be a number", error=True),
    Case("lstm-play-nothing-read", "/lstm_play", (), "Read a drawing", error=True),
    Case("sincos-hidden-0", "/sincos", ("rnn", 0, 0.02, 100, 10, 1, 1.0, 0, 0), "less than minimum", error=True),
    Case("sincos-lr-nan", "/sincos", ("rnn", 32, NAN, 100, 10, 1, 1.0, 0, 0), "finite number", error=True,
         raw=True),
    Case("sincos-seed-1e20", "/sincos", ("rnn", 32, 0.02, 100, 10, 1e20, 1.0, 0, 0), "greater than maximum",
         error=True),
    Case("sincos-fps-1000", "/sincos", ("rnn", 32, 0.02, 100, 10, 1, 1.0, 0, 1000), "greater than maximum",
         error=True),
    Case("sincos-cell-unknown", "/sincos", ("tanh", 32, 0.02, 100, 10, 1, 1.0, 0, 0), CHOICES, error=True),
    # ---- absurd training settings ----
    Case("epochs-0", "/train", (*T, 0, 64, 0.003, "adam", 1000, None), "less than minimum", error=True),
    Case("epochs-negative", "/train", (*T, -3, 64, 0.003, "adam", 1000, None), "less than minimum", error=True),
    Case("epochs-nan", "/train", (*T, NAN, 64, 0.003, "adam", 1000, None), "finite number", error=True, raw=True),
    Case("epochs-inf", "/train", (*T, INF, 64, 0.003, "adam", 1000, None), "finite number|greater than maximum",
         error=True, raw=True),
    Case("epochs-1e9", "/train", (*T, 1e9, 64, 0.003, "adam", 1000, None), "greater than maximum", error=True),
    Case("batch-0", "/train", (*T, 1, 0, 0.003, "adam", 1000, None), "less than minimum", error=True),
    Case("batch-negative", "/train", (*T, 1, -64, 0.003, "adam", 1000, None), "less than minimum", error=True),
    Case("batch-1e9", "/train", (*T, 1, 1e9, 0.003, "adam", 1000, None), "greater than maximum", error=True),
    Case("lr-0", "/train", (*T, 1, 64, 0, "adam", 1000, None), "less than minimum", error=True),
    Case("lr-negative", "/train", (*T, 1, 64, -0.1, "adam", 1000, None), "less than minimum", error=True),
    Case("lr-nan", "/train", (*T, 1, 64, NAN, "adam", 1000, None), "finite number", error=True, raw=True),
    Case("lr-10", "/train", (*T, 1, 64, 10, "adam", 1000, None), "greater than maximum", error=True),
    Case("train-size-0", "/train", (*T, 1, 64, 0.003, "adam", 0, None), "less than minimum", error=True),
    Case("train-size-fraction", "/train", (*T, 1, 64, 0.003, "adam", 1000.5, None), "whole number", error=True),
    Case("train-size-nan", "/train", (*T, 1, 64, 0.003, "adam", NAN, None), "finite number", error=True, raw=True),
    Case("optimiser-unknown", "/train", (*T, *OK_TRAIN[:3], "rmsprop", 1000, None), CHOICES, error=True),
    Case("recipe-unknown", "/train", ("lenet5", "magic", *OK_TRAIN, None), CHOICES, error=True),
    Case("train-model-unknown", "/train", ("vgg16", "seed", *OK_TRAIN, None), CHOICES, error=True),
    # ---- Stop with nothing running ----
    Case("stop-training-idle", "/stop_training", (), "Nothing is training", error=False),
    Case("stop-sincos-idle", "/sincos_stop", (), "Nothing is running", error=False),
]
# What needs a change in a file this test does not own (ui/train_tab.py uses gr.Number, not ui.common.Number).
NEEDS_LEAD: dict[str, str] = {}  # cases waiting on a change elsewhere (xfail, strict)
CASES.append(Case("lr-text", "/train", (*T, 1, 64, "fast", "adam", 1000, None), "must be a number", error=True))
NEEDS_MNIST = {"index-negative", "index-too-big"}  # the index is checked against the loaded set


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return _make_files(tmp_path_factory.mktemp("bad_inputs"))


@pytest.fixture(scope="module")
def url():
    with running_app() as u:
        yield u


def _pad(p: Pad, files: dict[str, Path]) -> dict:
    f = handle_file(str(files[p.file]))
    if p.layer:
        return {"background": f, "layers": [handle_file(str(files[p.layer]))], "composite": None}
    return {"background": f, "layers": [], "composite": f}


def raw_call(url: str, api: str, data: list) -> tuple[str, Any]:
    """POST plain JSON (NaN allowed) to the REST API; ('error', message) or ('ok', outputs)."""
    r = httpx.post(f"{url}gradio_api/call/{api.strip('/')}", content=json.dumps({"data": data}),
                   headers={"Content-Type": "application/json"}, timeout=60)
    if r.status_code != 200:
        return "error", f"HTTP {r.status_code}: {r.text}"
    event = r.json()["event_id"]
    text = httpx.get(f"{url}gradio_api/call/{api.strip('/')}/{event}", timeout=120).text
    kind, payload = "error", None
    for line in text.splitlines():
        if line.startswith("event: "):
            kind = "ok" if line[7:] == "complete" else line[7:]
        elif line.startswith("data: "):
            payload = json.loads(line[6:])
    if kind == "ok":
        return "ok", payload
    message = (payload or {}).get("error") if isinstance(payload, dict) else payload
    # gradio sends null for a failure that is not a gr.Error; the Python client shows this sentence for it
    return "error", message or f"The {GENERIC} but has not enabled verbose error reporting."


def ask(url: str, case: Case, files: dict[str, Path]) -> tuple[str, str]:
    """Send one case; ('error' | 'ok', the text a visitor would read)."""
    if case.api == "/train" and len(case.args) == 8:  # the Train tab's last input: the live t-SNE switch
        case = dataclasses.replace(case, args=(*case.args, False))
    if case.raw:
        def plain(a: Any) -> Any:
            if isinstance(a, ServerFile):
                path = a.path.format(files=files["seven.png"].parent, url=url)
                return {"background": None, "layers": [],
                        "composite": {"path": path, "meta": {"_type": "gradio.FileData"}}}
            return a

        kind, out = raw_call(url, case.api, [plain(a) for a in case.args])
        return kind, out if isinstance(out, str) else json.dumps(out, default=str)
    args = [_pad(a, files) if isinstance(a, Pad) else a for a in case.args]
    try:
        out = local_client(url).predict(*args, api_name=case.api)
    except AppError as exc:
        return "error", str(exc)
    return "ok", json.dumps(out, default=str, ensure_ascii=False)


def upload(url: str, path: Path) -> dict:
    """Upload a file once, as the browser does; its FileData can then be sent in any number of requests."""
    r = httpx.post(f"{url}gradio_api/upload", files=[("files", (path.name, path.read_bytes()))], timeout=60)
    r.raise_for_status()
    return {"path": r.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


_uploaded: dict[str, dict] = {}


def healthy(url: str, files: dict[str, Path]) -> bool:
    """A normal prediction of a clear 7 still works (the 7 is uploaded once per server)."""
    if url not in _uploaded:
        _uploaded[url] = upload(url, files["seven.png"])
    f = _uploaded[url]
    kind, out = raw_call(url, "/predict", [{"background": f, "layers": [], "composite": f}, "lenet5"])
    return kind == "ok" and out[0]["label"] == "7"


def test_the_matrix_is_big_enough() -> None:
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.id, marks=[
        *([pytest.mark.xfail(reason=NEEDS_LEAD[c.id], strict=True)] if c.id in NEEDS_LEAD else []),
        *([needs_mnist] if c.id in NEEDS_MNIST else []),
    ]) for c in CASES])
def test_bad_input_gets_a_message_and_the_server_stays_healthy(url, files, case: Case) -> None:
    kind, text = ask(url, case, files)
    assert re.search(case.expect, text, re.IGNORECASE), f"{case.id}: got {kind}: {text[:300]}"
    if case.error is not None:
        assert (kind == "error") == case.error, f"{case.id}: expected {'an error' if case.error else 'an output'}"
    assert "Traceback" not in text and "/tmp/gradio" not in text  # no internals leak into the message
    assert healthy(url, files)


def test_server_files_are_not_served(url) -> None:
    """gradio's file route serves only what the app created: not checkpoints, sources, or system files."""
    repo = Path(__file__).resolve().parents[1]
    for path in [repo / "checkpoints" / "lenet5.pt", repo / "app.py", Path("/etc/passwd"), Path("checkpoints/mlp.pt")]:
        r = httpx.get(f"{url}gradio_api/file={path}", timeout=30)
        assert r.status_code == 403 and "not allowed" in r.text


def test_a_server_file_is_never_read(url, files) -> None:
    """Naming a PNG on the server (instead of uploading it) is refused, not predicted."""
    kind, text = raw_call(url, "/predict", [{"background": None, "layers": [],
                                             "composite": {"path": str(files["seven.png"]),
                                                           "meta": {"_type": "gradio.FileData"}}}, "lenet5"])
    assert kind == "error" and '"7"' not in text
    kind, out = raw_call(url, "/predict", [{"background": None, "layers": [], "composite": None}, "lenet5"])
    assert kind == "ok" and out[0]["label"] == "draw a digit"  # the same route works with a proper value


# ---------- Stop, in every phase of a run ----------
def _train_and_stop(url: str, when: str, epochs: float = 0.05) -> tuple[list[str], str, str]:
    """Start a run, press Stop once the status contains `when` ('' = right away); (statuses, stop answer, final)."""
    c = local_client(url)
    job = c.submit("lenet5", "seed", epochs, 64, 0.003, "adam", 60_000, None, api_name="/train")
    answer = c.predict(api_name="/stop_training") if when == "" else ""
    statuses = []
    for out in job:
        statuses.append(out[2])
        if when and not answer and when in out[2]:
            answer = c.predict(api_name="/stop_training")
    final = job.outputs()[-1][2]
    return statuses, answer, final


@needs_mnist
def test_stop_during_every_phase_of_a_training_run(url, files) -> None:
    idle = local_client(url).predict(api_name="/stop_training")
    assert "Nothing is training" in idle
    # right after Start (the run may not have begun: then Stop says so and the short run just finishes)
    _, answer, final = _train_and_stop(url, "")
    assert re.search("Nothing is training|Stopping", answer) and final.startswith("Done")
    # while MNIST loads: the run stops at its first step and is still scored and kept
    _, answer, final = _train_and_stop(url, "Loading MNIST", epochs=1.0)
    assert "Stopping" in answer and "Done (stopped early)" in final and "yours: lenet5 #1" in final
    # mid-training, after the first evaluation
    _, answer, final = _train_and_stop(url, "test accuracy", epochs=1.0)
    assert "Stopping" in answer and "Done (stopped early)" in final
    steps = int(re.search(r"after (\d+) steps", final).group(1))
    assert 50 <= steps < 938  # stopped well before the end of the epoch
    # while the finished model is scored: nothing left to stop, the run ends normally
    _, answer, final = _train_and_stop(url, "Scoring")
    assert re.search("Nothing is training|Stopping", answer) and final.startswith("Done")
    # after the run, and twice in a row
    c = local_client(url)
    assert "Nothing is training" in c.predict(api_name="/stop_training")
    assert "Nothing is training" in c.predict(api_name="/stop_training")
    assert healthy(url, files)


def test_stop_during_a_sincos_fit(url, files) -> None:
    c = local_client(url)
    job = c.submit("rnn", 32, 0.02, 2000, 10, 1, 1.0, 1, 0, api_name="/sincos")
    answer = None
    for out in job:
        if answer is None and "Step" in out[2]:
            answer = c.predict(api_name="/sincos_stop")
    assert answer == "Stopping after this step…"
    final = job.outputs()[-1][2]
    assert final.startswith("Stopped after") and " of 2000 steps" in final
    assert "Nothing is running" in c.predict(api_name="/sincos_stop")
    assert healthy(url, files)


@needs_mnist
def test_cancelling_the_live_shuffle_rerun(url, files) -> None:
    """The pixel-shuffle Stop button cancels the event; the server goes on serving."""
    c = local_client(url)
    job = c.submit(api_name="/shuffle_rerun")
    for out in job:
        if "⏳" in str(out[3]):
            job.cancel()
            break
    assert healthy(url, files)
    assert local_client(url).predict(api_name="/stop_training") == "Nothing is training right now."
