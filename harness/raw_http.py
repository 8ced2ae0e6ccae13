"""A script's view of the app: raw HTTP to gradio's routes (config, upload, blob route, queue join and stream).

Used by tests/test_attacks.py and benchmarks/abuse.py. Each RawClient connects from one loopback address
(127.0.0.x), so a test can act as several clients of one machine, as the server tells them apart.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

API = "gradio_api"


def png_bytes(img: Image.Image) -> bytes:
    """An image encoded as PNG."""
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def seven_png(size: int = 280) -> bytes:
    """A pad-like drawing of a 7: black strokes on white, RGBA as the page sends it."""
    im = Image.new("RGBA", (size, size), "white")
    d = ImageDraw.Draw(im)
    s = size / 280
    d.line([(60 * s, 60 * s), (220 * s, 60 * s), (120 * s, 240 * s)], fill="black", width=max(1, int(24 * s)))
    return png_bytes(im)


def bomb_png(side: int) -> bytes:
    """A small PNG file that decodes to side x side pixels (one colour: compresses to almost nothing)."""
    return png_bytes(Image.new("L", (side, side), 255))


def fake_header_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (the pixel data is missing): only a header check can see it."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@dataclass
class Reply:
    """What the server answered to one event: HTTP status of the join, then the result or error message."""

    status: int
    ok: bool
    data: Any = None
    message: str = ""


class RawClient:
    """One client of the app over plain HTTP, from `address` (a loopback address of this machine)."""

    def __init__(self, url: str, address: str = "127.0.0.1", timeout: float = 120.0) -> None:
        self.url = url.rstrip("/") + "/"
        self.http = httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=timeout)
        cfg = self.http.get(self.url + "config").json()
        self.deps = {d["api_name"]: d for d in cfg["dependencies"] if d.get("api_name")}
        comps = {c["id"]: c for c in cfg["components"]}
        self.state_ids = {i for i, c in comps.items() if c.get("type") == "state"}
        self.pad_id = next(i for i, c in comps.items() if c.get("props", {}).get("elem_id") == "pad")
        self.messages: list[dict] = []  # every stream message result() has read, in order

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    @staticmethod
    def session() -> str:
        """A fresh session hash (a new visitor, as far as gradio knows)."""
        return uuid.uuid4().hex[:11]

    # ---------- files ----------
    def upload(self, data: bytes, name: str = "pad.png") -> dict:
        """POST /upload; a FileData dict for an event's payload."""
        r = self.http.post(self.url + f"{API}/upload", files={"files": (name, data, "image/png")})
        r.raise_for_status()
        return {"path": r.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}

    def pad_value(self, data: bytes | None = None, layers: int = 0) -> dict:
        """A sketchpad value as an API client sends it: the image uploaded once, as composite (and `layers`)."""
        f = self.upload(data if data is not None else seven_png())
        return {"background": None, "layers": [f] * layers, "composite": f}

    def blob(self, session: str, blob_id: str, data: bytes, kind: str = "composite",
             index: Any = None) -> httpx.Response:
        """What the page does before an event: POST one part of the drawing to the component server."""
        fields = {"component_id": str(self.pad_id), "session_hash": session, "fn_name": "accept_blobs",
                  "type": kind, "index": "null" if index is None else str(index), "id": blob_id}
        return self.http.post(self.url + f"{API}/component_server", data=fields,
                              files={"file": ("blob", data, "image/png")})

    # ---------- events ----------
    def join(self, api_name: str, values: list[Any], session: str | None = None) -> tuple[httpx.Response, str]:
        """POST /queue/join for `api_name` with `values` for its non-State inputs; (response, session hash)."""
        dep = self.deps[api_name]
        it = iter(values)
        data = [None if i in self.state_ids else next(it) for i in dep["inputs"]]
        session = session or self.session()
        body = {"data": data, "fn_index": dep["id"], "session_hash": session, "event_data": None,
                "trigger_id": dep["targets"][0][0] if dep.get("targets") else None}
        return self.http.post(self.url + f"{API}/queue/join", json=body), session

    def result(self, session: str, event_id: str) -> Reply:
        """Read the session's event stream until `event_id` completes."""
        with self.http.stream("GET", self.url + f"{API}/queue/data", params={"session_hash": session}) as r:
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                self.messages.append(msg)
                if msg.get("event_id") not in (None, event_id):
                    continue
                if msg.get("msg") == "process_completed":
                    out = msg.get("output") or {}
                    if msg.get("success"):
                        return Reply(200, True, out.get("data"))
                    return Reply(200, False, None, str(out.get("error") or msg.get("title") or "error"))
                if msg.get("msg") == "close_stream":
                    break
        return Reply(200, False, None, "stream closed without a result")

    def call(self, api_name: str, values: list[Any], session: str | None = None) -> Reply:
        """join + result: one event, as a script makes it."""
        r, session = self.join(api_name, values, session)
        if r.status_code != 200:
            return Reply(r.status_code, False, None, str(r.json().get("detail", r.text)))
        return self.result(session, r.json()["event_id"])

    def predict(self, model: str = "cnn") -> Reply:
        """A normal visitor's /predict of a drawn 7 (uploaded file path)."""
        return self.call("predict", [self.pad_value(), model])

    def predict_by_blob(self, data: bytes | None = None, model: str = "cnn") -> Reply:
        """A prediction the way the page sends it: the drawing as a blob, then the event naming its id."""
        session, blob_id = self.session(), uuid.uuid4().hex[:12]
        r = self.blob(session, blob_id, data if data is not None else seven_png())
        if r.status_code != 200:
            return Reply(r.status_code, False, None, str(r.json().get("detail", r.text)))
        value = {"id": blob_id, "background": None, "layers": [], "composite": None}
        return self.call("predict", [value, model], session)


def top_label(reply: Reply) -> str | None:
    """The top label of a /predict answer (None when it is not a label)."""
    if not reply.ok or not reply.data:
        return None
    out = reply.data[0]
    return out.get("label") if isinstance(out, dict) else None


def random_bytes(n: int, seed: int = 0) -> bytes:
    """n bytes of noise (not an image)."""
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
