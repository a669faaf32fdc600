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
from hypothesis import HealthCheck, event, given, settings
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
    srv = ServerProcess(tmp_path_factory.mktemp("fuzz") / "data").start()
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
