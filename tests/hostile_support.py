"""Shared by the hostile-input suites: raw HTTP over sockets, JSON-error checks, "no trace" checks."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgpack


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    # Everything read from the socket (to count responses: Tornado once sent a second one).
    raw: bytes = b""
    extra_responses: int = 0
    closed_without_answer: bool = False
    header_list: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> object:
        return json.loads(self.body)


def parse_raw(raw: bytes) -> RawResponse:
    if not raw.startswith(b"HTTP/1.") or b"\r\n\r\n" not in raw:
        return RawResponse(0, {}, b"", raw, closed_without_answer=True)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    header_list = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    headers = {k.lower(): v for k, v in header_list}
    length = int(headers.get("content-length", len(rest)))
    body, tail = rest[:length], rest[length:]
    return RawResponse(status, headers, body, raw, extra_responses=tail.count(b"HTTP/1."),
                       header_list=header_list)


async def raw_exchange(port: int, data: bytes | list[bytes], timeout: float = 10.0) -> RawResponse:
    """Send raw bytes on a fresh connection; read until the server closes or goes quiet.

    ``data`` may be a list of pieces written one after another (the server may answer and
    close in between: that is fine, we still read what it said).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    pieces = [data] if isinstance(data, bytes) else data
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    raw = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            raw += chunk
            parsed = parse_raw(raw)
            # Keep-alive answers do not close: stop once one full response (plus a moment) is in.
            if not parsed.closed_without_answer and len(parsed.body) >= int(parsed.headers.get(
                    "content-length", 1 << 62)) and parsed.headers.get("connection", "").lower() != "close":
                try:
                    more = await asyncio.wait_for(reader.read(65536), 0.3)
                except TimeoutError:
                    more = b""
                raw += more
                break
    except (TimeoutError, ConnectionError, OSError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    return parse_raw(raw)


def request_bytes(method: str, path: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
                  body: bytes = b"", content_length: bool = True) -> bytes:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    framed = any(k.lower() in ("content-length", "transfer-encoding") for k, _ in items)
    if content_length and (body or method in ("POST", "PUT", "PATCH")) and not framed:
        items.append(("Content-Length", str(len(body))))
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in items)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def error_of(status: int, content_type: str, body: bytes) -> dict[str, str]:
    """The ``error`` object of a JSON or msgpack error body (asserting its shape)."""
    assert 400 <= status < 500, (status, body[:300])
    if "msgpack" in content_type:
        doc = msgpack.unpackb(body, raw=False)
    else:
        assert content_type.startswith("application/json"), (content_type, body[:300])
        doc = json.loads(body)
    assert set(doc) == {"error"}, doc
    assert isinstance(doc["error"]["code"], str) and doc["error"]["code"], doc
    assert isinstance(doc["error"]["message"], str), doc
    return doc["error"]


def assert_json_error(resp: RawResponse, status: int | tuple[int, ...], code: str | None = None) -> dict[str, str]:
    statuses = (status,) if isinstance(status, int) else status
    assert resp.status in statuses, (resp.status, resp.raw[:500])
    assert resp.extra_responses == 0, resp.raw[:2000]
    err = error_of(resp.status, resp.headers.get("content-type", ""), resp.body)
    if code is not None:
        assert err["code"] == code, err
    return err


# -- "no trace": staging files, blobs and records ----------------------------------------------
@dataclass(frozen=True)
class Footprint:
    staging: tuple[str, ...]
    blobs: frozenset[str]
    records: int


def footprint(data_dir: str | Path) -> Footprint:
    data = Path(data_dir)
    tmp = data / "tmp"
    staging = tuple(sorted(os.listdir(tmp))) if tmp.exists() else ()
    blobs = frozenset(p.name for p in (data / "blobs").rglob("*") if p.is_file())
    db = data / "paste.sqlite3"
    records = 0
    if db.exists():
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            records = conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    return Footprint(staging, blobs, records)


def wait_no_trace(data_dir: str | Path, before: Footprint, timeout: float = 5.0) -> None:
    """Poll until nothing new is in the data dir (an aborted upload is cleaned on connection close)."""
    deadline = time.monotonic() + timeout
    while True:
        now = footprint(data_dir)
        if now.staging == () and now.blobs == before.blobs and now.records == before.records:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"trace left behind: before={before} now={now}")
        time.sleep(0.05)


async def settled(data_dir: str | Path, before: Footprint, timeout: float = 5.0) -> None:
    """``wait_no_trace`` for tests whose server runs on the test's own event loop."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            wait_no_trace(data_dir, before, timeout=0)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


def check_integrity(data_dir: str | Path) -> int:
    """Every blob's sha256 is its name, and every record's blob exists. Returns the blob count."""
    data = Path(data_dir)
    names = set()
    for path in (data / "blobs").rglob("*"):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == path.name, f"blob {path} holds {digest}"
            names.add(path.name)
    with sqlite3.connect(f"file:{data / 'paste.sqlite3'}?mode=ro", uri=True, timeout=5) as conn:
        for (sha,) in conn.execute("SELECT sha256 FROM files"):
            assert sha in names, f"record without blob: {sha}"
    return len(names)


# -- blocking helpers for tests against a ServerProcess (hypothesis, schemathesis) ----------------
def http_call(port: int, method: str, path: str, body: bytes | None = None,
              headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def raw_call(port: int, data: bytes, timeout: float = 30.0) -> RawResponse:
    """Blocking raw exchange: send everything (the server may answer early), read one response.

    No half-close: Tornado takes EOF on an idle connection as the client leaving.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        raw = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                raw += chunk
                parsed = parse_raw(raw)
                if not parsed.closed_without_answer and "content-length" in parsed.headers \
                        and len(parsed.body) >= int(parsed.headers["content-length"]):
                    break
        except OSError:
            pass
    return parse_raw(raw)
