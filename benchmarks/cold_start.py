"""Cold start (#18): `python app.py` as a fresh process → HTTP 200 → pad drawable → first correct prediction in
Chromium → every tab's first content (opened, nothing pressed); the server's idle RSS; where the time goes.

    python benchmarks/cold_start.py [--cold] [--runs N]

Per run, seconds from launching the process: `http` (the page answers 200), `pad` (the pad takes strokes),
`predict` (a 7 drawn with the mouse is read as 7: the moment the top-3 label shows "7", the answer to the stroke
when the pen lifts), `stroke_done` (every output of that stroke has arrived: the side-by-side table, the chart,
what the model sees; Predict pressed after it must agree), then `tabs` (each tab opened in order shows its
first content, harness/tab_checks.FIRST_CONTENT) and `all_tabs` (the last of them). RSS of the server just after
HTTP 200 and once every tab has been opened. Baselines in the same run: `python -c "import gradio, torch"` (the
floor no app start can beat here), a second visitor on the running server (page opened → correct prediction), and
that visit on a bare gradio page holding only the pad and a label (what no layout of this app can beat here).
Where the time goes: the top cumulative imports of `python -X importtime -c "import app"` and the top functions
of a cProfile of build_demo(). `--cold` first evicts the repository's and the virtualenv's files from the page
cache (posix_fadvise DONTNEED per file, no root needed; pages other processes hold mapped stay) for one more run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, preflight

from harness.browser import DESKTOP, AppPage, launch_browser, unavailable_reason
from harness.server import free_port, stop, wait_for_http
from harness.tab_checks import FIRST_CONTENT, MNIST_FIRST, expect_first_content


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS) in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def floor_import_s() -> float:
    """Seconds for a fresh `python -c "import gradio, torch"`: what any start of this app pays first."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio, torch"], cwd=REPO, check=True)
    return time.perf_counter() - t0


def import_costs(top: int = 8) -> list[tuple[str, float]]:
    """(module, cumulative s) of the heaviest imports under `import app` (python -X importtime), largest first."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=REPO, capture_output=True,
                         text=True, check=True).stderr
    rows = []
    for line in out.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and len(m.group(2)) <= 4:  # app's own imports and theirs (depth ≤ 2)
            rows.append((m.group(3), int(m.group(1)) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


BUILD_PROFILE = """
import cProfile, pstats, io, app
from mnist_demo.registry import ModelRegistry
from mnist_demo.service import Service
s = Service(ModelRegistry("cpu")); s.registry.load_all()
pr = cProfile.Profile(); pr.enable(); app.build_demo(s); pr.disable()
st = pstats.Stats(pr)
rows = [(f"{k[0].split('/work/main/')[-1]}:{k[2]}", v[3]) for k, v in st.stats.items()
        if ("/ui/" in k[0] or "/mnist_demo/" in k[0] or k[0].endswith("app.py"))]
print(sum(v[2] for v in st.stats.values()))
for name, cum in sorted(rows, key=lambda r: -r[1])[:6]:
    print(f"{cum:.3f} {name}")
"""


def build_profile() -> dict:
    """build_demo()'s total seconds under cProfile and its six costliest functions of this repository."""
    out = subprocess.run([sys.executable, "-c", BUILD_PROFILE], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()
    return {"total_s": round(float(out[0]), 2),
            "top": [(line.split(" ", 1)[1], float(line.split(" ", 1)[0])) for line in out[1:]]}


def evict_page_cache() -> int:
    """Drop the repository's and the virtualenv's files from the page cache; how many files were advised."""
    n = 0
    for root in (REPO,):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in (".git", "data", "node_modules")]
            for f in filenames:
                try:
                    fd = os.open(os.path.join(dirpath, f), os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    n += 1
                finally:
                    os.close(fd)
    return n


# Records, in the page, when the top-3 label first shows "7" (performance.now(), ms): the moment a visitor sees
# the answer, which the harness's "every event of the stroke answered" wait comes after.
WATCH_LABEL = """() => {
  window.__seven = null;
  const tick = () => {
    const el = document.querySelector('#label [data-testid=label-output-value]');
    if (el && el.innerText.trim() === '7') { window.__seven = performance.now(); return; }
    requestAnimationFrame(tick);
  };
  tick();
  return performance.now();
}"""


def draw_seven(app: AppPage) -> tuple[float, float]:
    """Draw a 7; (perf_counter when the label showed 7, when every output of the stroke had arrived)."""
    before = time.perf_counter()
    page_ms = app.page.evaluate(WATCH_LABEL)
    after = time.perf_counter()
    offset = (before + after) / 2 - page_ms / 1000  # page clock -> this process's clock (one round trip apart)
    app.draw("7")  # waits for the answer to the stroke: the app reads a drawing when the pen lifts
    done = time.perf_counter()
    seen = app.page.evaluate("window.__seven")
    if seen is None or app.top_label() != "7":
        raise AssertionError(f"drew a 7, the app read {app.top_label()!r}")
    return offset + seen / 1000, done


def one_run(browser, have_mnist: bool) -> dict:
    """Launch `python app.py`, time every phase in a fresh page; the server is stopped at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tempfile.NamedTemporaryFile("w+", prefix="cold_", suffix=".log", delete=False)  # noqa: SIM115
    page = browser.new_page(viewport=DESKTOP)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    res: dict = {}
    try:
        wait_for_http(url, proc)
        res["http"] = time.perf_counter() - t0
        res["rss_at_http_mb"] = rss_mb(proc.pid)
        app = AppPage(page)
        app.goto(url)
        res["pad"] = time.perf_counter() - t0
        seen, done = draw_seven(app)
        res["predict"], res["stroke_done"] = seen - t0, done - t0
        if app.predict() != "7":  # and the Predict button agrees
            raise AssertionError("Predict disagreed with the answer to the stroke")
        app.clear()  # the tabs then show their example digit, as for a visitor who has not drawn yet
        tabs, tab_open = {}, {}
        for tab in app.tab_names():
            if tab == "Draw" or (tab in MNIST_FIRST and not have_mnist) or tab not in FIRST_CONTENT:
                continue
            t_open = time.perf_counter()
            app.open_tab(tab)
            expect_first_content(app, tab)
            tabs[tab] = time.perf_counter() - t0
            tab_open[tab] = time.perf_counter() - t_open  # click -> content, the tab on its own
        res["tabs"] = tabs
        res["tab_open"] = tab_open
        # Each tab opened on its own as soon as the page was ready: what a visitor going there first waits.
        res["each_tab_from_pad"] = res["pad"] + max(tab_open.values()) if tab_open else None
        res["all_tabs"] = max(tabs.values()) if tabs else None
        second = AppPage(browser.new_page(viewport=DESKTOP))
        t1 = time.perf_counter()
        second.goto(url)
        seen, done = draw_seven(second)
        res["second_visitor"], res["second_visitor_done"] = seen - t1, done - t1
        second.page.close()
        time.sleep(2.0)  # idle: warm-ups done or going on at low priority
        res["rss_after_tabs_mb"] = rss_mb(proc.pid)
    finally:
        page.close()
        stop(proc, 20)
    return res


def bare_pad_visits(browser, n: int = 3) -> float:
    """Baseline for the second visitor: a bare gradio page with only this app's pad and a label, served in this
    process; median seconds from opening it to the label showing 7 (what no layout of the app can beat here)."""
    import gradio as gr

    from ui.common import BRUSH_RADIUS, CANVAS, blank_pad

    def read(value: dict) -> dict:
        a = value.get("composite")
        return {"7": 1.0} if a is not None and a.ndim == 3 and (a[..., :3].min(axis=2) < 128).any() else {}

    with gr.Blocks() as demo:
        with gr.Column():
            pad = gr.Sketchpad(value=blank_pad(), image_mode="RGBA", type="numpy", canvas_size=(CANVAS, CANVAS),
                               layers=False, transforms=(), elem_id="pad", interactive=True,
                               brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=BRUSH_RADIUS))
        label = gr.Label(elem_id="label")
        pad.input(read, pad, label)
    port = free_port()
    demo.queue().launch(server_port=port, prevent_thread_lock=True, quiet=True)
    times = []
    try:
        for _ in range(n):
            page = browser.new_page(viewport=DESKTOP)
            t0 = time.perf_counter()
            seen, _done = draw_seven(AppPage(page).goto(f"http://127.0.0.1:{port}/"))
            times.append(seen - t0)
            page.close()
    finally:
        demo.close()
    return statistics.median(times)


def main() -> None:
    """Run the cold start(s), print a summary and one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="warm-disk runs (default 2)")
    ap.add_argument("--cold", action="store_true", help="one more run after evicting the files from the page cache")
    args = ap.parse_args()
    warning = preflight(unavailable_reason())
    from playwright.sync_api import sync_playwright

    from mnist_demo.data import mnist_available

    floor = floor_import_s()
    print(f"floor: python -c 'import gradio, torch' {floor:.1f} s")
    runs = []
    with sync_playwright() as p:
        browser = launch_browser(p)
        for i in range(args.runs):
            r = one_run(browser, mnist_available())
            runs.append(r)
            print(f"run {i + 1}: HTTP {r['http']:.1f} s → pad {r['pad']:.1f} s → first correct prediction "
                  f"{r['predict']:.1f} s (every output of the stroke {r['stroke_done']:.1f} s) → every tab's first "
                  f"content {r['all_tabs']:.1f} s; second visitor {r['second_visitor']:.1f} s (all outputs "
                  f"{r['second_visitor_done']:.1f} s); RSS {r['rss_at_http_mb']:.0f} MB at HTTP, "
                  f"{r['rss_after_tabs_mb']:.0f} MB after the tabs")
            print("   tabs (opened one after another): " + ", ".join(f"{k} {v:.1f}" for k, v in r["tabs"].items()))
            print(f"   each tab on its own, click -> content (max {max(r['tab_open'].values()):.1f} s; from page ready "
                  f"{r['each_tab_from_pad']:.1f} s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["tab_open"].items()))
        bare = bare_pad_visits(browser)
        print(f"baseline: a bare gradio page with only the pad and a label, opened -> 7 shown: {bare:.1f} s")
        cold = None
        if args.cold:
            n = evict_page_cache()
            cold = one_run(browser, mnist_available())
            print(f"cold page cache ({n:,} files evicted): HTTP {cold['http']:.1f} s → first correct prediction "
                  f"{cold['predict']:.1f} s → every tab {cold['all_tabs']:.1f} s")
        browser.close()
    imports = import_costs()
    print("heaviest imports under `import app`: " + ", ".join(f"{m} {s:.2f} s" for m, s in imports))
    prof = build_profile()
    print(f"build_demo under cProfile: {prof['total_s']:.2f} s; "
          + ", ".join(f"{n} {s:.2f} s" for n, s in prof["top"][:4]))

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 2)

    print(json.dumps({"benchmark": "cold_start", "runs": len(runs), "http_s": med("http"), "pad_s": med("pad"),
                      "first_prediction_s": med("predict"), "stroke_done_s": med("stroke_done"),
                      "all_tabs_s": med("all_tabs"),
                      "each_tab_from_pad_s": med("each_tab_from_pad"),
                      "second_visitor_s": med("second_visitor"),
                      "second_visitor_done_s": med("second_visitor_done"), "bare_pad_page_s": round(bare, 2),
                      "rss_at_http_mb": med("rss_at_http_mb"),
                      "rss_after_tabs_mb": med("rss_after_tabs_mb"), "floor_import_gradio_torch_s": round(floor, 2),
                      "tabs_s": {k: round(v, 2) for k, v in runs[-1]["tabs"].items()},
                      "tab_open_s": {k: round(v, 2) for k, v in runs[-1]["tab_open"].items()},
                      "cold_cache": {k: (round(v, 2) if isinstance(v, float) else None) for k, v in cold.items()
                                     if k in ("http", "predict", "stroke_done", "all_tabs")} if cold else None,
                      "imports_s": [(m, round(s, 2)) for m, s in imports], "build_demo": prof,
                      "warning": warning or None}))


if __name__ == "__main__":
    main()
