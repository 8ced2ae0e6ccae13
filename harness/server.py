"""Starting the app and talking to it over HTTP: a free port, a gradio_client, app.py as its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A free localhost port (gradio refuses server_port=0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_client(url: str) -> Any:
    """A gradio_client Client for an app on localhost, without TLS certificate loading.

    gradio_client opens a new httpx client for nearly every request (upload, join, stream) and each one
    loads the certificate bundle unless verification is off: ~50 ms of CPU per request even for plain
    http://127.0.0.1, three times what the server spends answering. Plain http needs no verification.
    """
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=False)


REPO = Path(__file__).resolve().parents[1]
SERVER_TIMEOUT_S = 300.0


def wait_for_http(url: str, proc: subprocess.Popen, timeout_s: float = SERVER_TIMEOUT_S) -> None:
    """Poll until the app answers HTTP 200 (or its process dies)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"python app.py exited with code {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)  # polling a socket that is not listening yet; the condition is the HTTP answer
    raise TimeoutError(f"the app did not answer at {url} within {timeout_s:.0f} s")


@contextmanager
def serve(threads: int | None = None, public: bool = True, log: Path | None = None,
          extra: tuple[str, ...] = ()) -> Iterator[tuple[str, int]]:
    """Run app.py (with `extra` flags) in its own process on a free port; yield (url, pid). Stops it afterwards."""
    port = free_port()
    cmd = [sys.executable, str(REPO / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--public"] if public else []
    cmd += ["--threads", str(threads)] if threads else []
    cmd += list(extra)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    out = open(log or os.devnull, "w")  # noqa: SIM115  (closed below, after the process)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, proc, timeout_s=180)
        yield url, proc.pid
    finally:
        stop(proc)
        out.close()


def stop(proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Ask a server process to end (SIGTERM), and kill it when it has not within timeout_s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
