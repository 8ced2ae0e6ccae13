"""Screenshots of every tab into docs/, and the time from `python app.py` to the first correct prediction in a browser.

    python benchmarks/screenshots.py [--quick] [--out docs]

Starts `python app.py` as a subprocess (the real launch: theme, CSS, queue), drives headless Debian Chromium
with Playwright (see harness/tab_checks.py; never `playwright install`), draws a 7 with the mouse and
waits for the Draw tab to read it. Reported: seconds from launching the process to the app answering HTTP,
to the pad being ready in the page, and to the first correct prediction; as the baseline measured in the
same run, a second visitor on the now-running app (open the page → first correct prediction).

Then one full-page PNG per tab at a desktop viewport (1280 px), each after doing what a visitor does first
there (harness/tab_checks.py TAB_CHECKS), plus the Draw tab at a phone width (390 px).
--quick: only the Draw tab (desktop and phone), no other tab. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, preflight

from harness.browser import DESKTOP, MOBILE, AppPage, launch_browser, unavailable_reason
from harness.server import free_port, stop, wait_for_http
from harness.tab_checks import TAB_CHECKS, check_train

SERVER_TIMEOUT_S = 300.0
# After a tab's check, what else fills its empty panels for the picture (buttons by elem_id).
EXTRAS = {"Evaluate": ["#compare"], "LSTM reader": ["#lstm-acc-btn"], "LeNet-5": ["#lenet-prove"],
          "Dataset": ["#ds-means"]}


def first_prediction(app: AppPage, url: str) -> float:
    """Open the page, draw a 7, press Predict; seconds until the label reads 7 (raises if it reads otherwise)."""
    t0 = time.perf_counter()
    app.goto(url)
    app.draw("7")
    got = app.predict()
    if got != "7":
        raise AssertionError(f"drew a 7, the app read {got!r}")
    return time.perf_counter() - t0


def shoot(app: AppPage, path: Path) -> str:
    """A full-page PNG of what the visitor sees now, in 256 colours (about 2.5× smaller, text stays crisp)."""
    from PIL import Image

    app.page.mouse.move(0, 0)  # no hover highlight on the last button clicked
    app.page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main() -> None:
    """Launch the app, time the first prediction, take the screenshots, print the figures (last line JSON)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Draw tab only (desktop + phone), no other tab")
    ap.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the PNGs (default: docs/)")
    args = ap.parse_args()
    warning = preflight(unavailable_reason())
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tempfile.NamedTemporaryFile("w+", prefix="app_", suffix=".log", delete=False)  # noqa: SIM115
    shots: list[str] = []
    with sync_playwright() as p:
        browser = launch_browser(p)  # the visitor's browser is open before the app starts
        page = browser.new_page(viewport=DESKTOP)
        t_launch = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            wait_for_http(url, proc)
            server_up = time.perf_counter() - t_launch
            app = AppPage(page)
            app.goto(url)
            page_ready = time.perf_counter() - t_launch
            app.draw("7")
            got = app.predict()
            cold = time.perf_counter() - t_launch
            if got != "7":
                raise AssertionError(f"drew a 7, the app read {got!r}")
            print(f"python app.py → HTTP up {server_up:.1f} s → pad ready {page_ready:.1f} s → "
                  f"first correct prediction {cold:.1f} s")

            # Baseline, same run: a second visitor on the running app (page load + draw + predict).
            second = AppPage(browser.new_page(viewport=DESKTOP))
            warm = first_prediction(second, url)
            second.page.close()
            print(f"second visitor on the running app: first correct prediction {warm:.1f} s after opening the page "
                  f"(startup adds {cold - warm:.1f} s, ×{cold / warm:.1f})")

            TAB_CHECKS["Draw"].run(app)
            shots.append(shoot(app, args.out / "draw.png"))
            phone = AppPage(browser.new_page(viewport=MOBILE))
            phone.goto(url)
            phone.draw("7")
            phone.predict()
            TAB_CHECKS["Draw"].run(phone)
            shots.append(shoot(phone, args.out / "draw-mobile.png"))
            phone.page.close()

            missing = []
            for tab in [] if args.quick else app.tab_names():
                check = TAB_CHECKS.get(tab)
                if tab == "Draw":
                    continue
                if check is None:
                    missing.append(tab)
                    continue
                t0 = time.perf_counter()
                app.open_tab(tab)
                if tab == "Train":
                    check_train(app, epochs=1, train_size=3_000)  # a whole short run: curves, scores, map
                else:
                    check.run(app)
                for button in EXTRAS.get(tab, []):
                    app.act(button)
                shots.append(shoot(app, args.out / f"{check.slug}.png"))
                print(f"{tab}: {time.perf_counter() - t0:.1f} s → {shots[-1]}")
            if missing:
                print(f"no check (so no screenshot) for: {missing}; add a @tab_check in harness/tab_checks.py")
        except Exception:
            log.seek(0)
            print("---- app log (last 3000 characters) ----\n" + log.read()[-3000:])
            raise
        finally:
            stop(proc)
            browser.close()
    print(f"{len(shots)} screenshots in {args.out}")
    print(json.dumps({
        "time_to_first_prediction_s": round(cold, 2), "server_up_s": round(server_up, 2),
        "page_ready_s": round(page_ready, 2), "second_visitor_s": round(warm, 2),
        "ratio_cold_vs_second_visitor": round(cold / warm, 2), "screenshots": shots, "missing_checks": missing,
        "quick": args.quick, "cpu_count": os.cpu_count(), "load_warning": warning or None,
    }))


if __name__ == "__main__":
    main()
