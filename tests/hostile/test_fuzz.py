"""Fuzz target for the multipart path: hypothesis over raw request bodies against a real run.py.

Bodies are built from multipart-shaped pieces (parts with odd names, filenames and headers,
delimiters, closing boundaries, stray bytes) and then truncated or byte-flipped. Whatever
arrives, the server answers below 500 (a JSON error for 4xx), keeps no staging file, and
records a file exactly when it says 201. Bounded: a few dozen examples per run.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from tests.helpers import ServerProcess
from tests.hostile_support import check_integrity, error_of, footprint, raw_call, request_bytes

BOUNDARIES = st.sampled_from(["b", "XyZ", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "a'b", "=="])
NAMES = st.sampled_from([b"file", b"file", b"private", b"w", b"other", b"", b"fi\xffle", b'fi"le'])
SMALL = st.binary(max_size=64)


@st.composite
def part(draw: st.DrawFn, boundary: bytes) -> bytes:
    name = draw(NAMES)
    disposition = b"Content-Disposition: form-data; name=\"" + name + b"\""
    filename = draw(st.one_of(st.none(), SMALL, st.sampled_from([b"../../x", b"a\r\nb", b"\xff.txt", b"%2e%2e"])))
    if filename is not None:
        disposition += b"; filename=\"" + filename + b"\""
    extra = draw(st.lists(st.sampled_from([
        b"Content-Type: text/plain", b"Content-Type: ", b"X: " + b"y" * 200, b"no colon", b"",
        b"Content-Disposition: attachment"]), max_size=3))
    headers = [disposition, *extra]
    if draw(st.booleans()):
        headers = draw(st.permutations(headers))
    data = draw(st.one_of(SMALL, st.just(b"x" * 5000), st.binary(max_size=300)))
    return b"--" + boundary + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + data + b"\r\n"


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    boundary = draw(BOUNDARIES).encode()
    pieces = draw(st.lists(st.one_of(
        part(boundary), part(boundary), st.just(b"--" + boundary + b"--\r\n"), st.just(b"--" + boundary + b"\r\n"),
        st.just(b"\r\n"), SMALL), min_size=0, max_size=4))
    if draw(st.integers(0, 2)) == 0:  # mostly well-formed: at most one other part, no stray bytes
        pieces = [piece for piece in pieces if piece.startswith(b"--" + boundary + b"\r\nContent")][:1]
    if draw(st.booleans()):  # a well-formed upload somewhere in the mess, so some succeed
        data = draw(st.binary(max_size=300))
        pieces.insert(draw(st.integers(0, len(pieces))), b"--" + boundary + b"\r\nContent-Disposition: form-data; "
                      b"name=\"file\"; filename=\"f.bin\"\r\n\r\n" + data + b"\r\n")
    if draw(st.booleans()):
        pieces.append(b"--" + boundary + b"--\r\n")
    body = b"".join(pieces)
    if body and draw(st.integers(0, 3)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    if body and draw(st.integers(0, 3)) == 0:
        flips = draw(st.lists(st.tuples(st.integers(0, len(body) - 1), st.integers(0, 255)), max_size=4))
        mutable = bytearray(body)
        for position, value in flips:
            mutable[position] = value
        body = bytes(mutable)
    ctype = draw(st.one_of(
        st.just(f"multipart/form-data; boundary={boundary.decode()}"),
        st.just(f'multipart/form-data; boundary="{boundary.decode()}"'),
        st.just("multipart/form-data"),
        st.sampled_from(["multipart/form-data; boundary=other", "text/plain", "multipart/form-data; charset=x"]),
    ))
    return ctype, body


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    # Per-IP rate limits (tested in their own suite) would turn most fuzz cases into 429s.
    srv = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data", env={"TORNADO_PASTE_RATELIMIT_EXEMPT": "127.0.0.1"})
    srv.start()
    yield srv
    srv.stop()
    log = srv.log()
    assert "Traceback" not in log, log[-3000:]
    check_integrity(srv.data_dir)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bodies())
def test_multipart_fuzz(fuzz_server, case):
    ctype, body = case
    before = footprint(fuzz_server.data_dir)
    resp = raw_call(fuzz_server.port, request_bytes(
        "POST", "/", {"Content-Type": ctype, "Accept": "application/json"}, body))
    assert not resp.closed_without_answer, (ctype, body[:200])
    event(f"status {resp.status}")  # pytest --hypothesis-show-statistics shows the mix
    assert resp.status < 500, resp.raw[:500]
    assert resp.extra_responses == 0
    if resp.status >= 400:
        error_of(resp.status, resp.headers.get("content-type", ""), resp.body)
    else:
        assert resp.status in (200, 201), resp.raw[:500]
        card = json.loads(resp.body)
        assert "/" not in card["filename"] and "\r" not in card["filename"]
    # Nothing staged is left; a record appears exactly for a 201.
    deadline = time.monotonic() + 5
    while True:
        now = footprint(fuzz_server.data_dir)
        if now.staging == () or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert now.staging == ()
    assert now.records == before.records + (1 if resp.status == 201 else 0)
    assert len(now.blobs) == len(before.blobs) + (1 if resp.status == 201 else 0)


# -- request heads: the request line and headers Tornado parses before any handler ---------------
TOKENS = st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"TRACE", b"OPTIONS", b"G\x00T", b"get", b""])
PATHS = st.one_of(
    st.sampled_from([b"/", b"/healthz", b"/api/v1/files", b"/api/v1/files?limit=5", b"/s/abc", b"/i/x", b"*",
                     b"http://evil/", b"/%ff", b"/..%2f..", b"/static/app.css"]),
    st.binary(max_size=30).map(lambda b: b"/" + b),
)
VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 extra", b"", b"http/1.1"])
HEADER_LINES = st.lists(st.one_of(
    st.sampled_from([b"Host: x", b"Host: x", b"Host: a b", b"Content-Length: 3", b"Content-Length: -1",
                     b"Transfer-Encoding: chunked", b"Accept: application/msgpack", b"Range: bytes=0-1",
                     b"Expect: 100-continue", b"Connection: close", b"X-Forwarded-For: 1.2.3.4"]),
    st.builds(lambda k, v: k + b": " + v, st.binary(min_size=1, max_size=12), st.binary(max_size=40)),
), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(TOKENS, PATHS, VERSIONS, HEADER_LINES, st.binary(max_size=20))
def test_request_head_fuzz(fuzz_server, method, path, version, headers, body):
    head = b" ".join(p for p in (method, path, version) if p) + b"\r\n" + b"".join(h + b"\r\n" for h in headers)
    note(repr(head + b"\r\n" + body))
    resp = raw_call(fuzz_server.port, head + b"\r\n" + body, timeout=10)
    event(f"status {resp.status}")
    if resp.closed_without_answer:
        return  # e.g. a chunked body that never ends: the idle timeout closes it, no answer owed
    assert resp.status < 500, resp.raw[:500]
    if resp.status >= 400 and method != b"HEAD":
        error_of(resp.status, resp.headers.get("content-type", ""), resp.body)
