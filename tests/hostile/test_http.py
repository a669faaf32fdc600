"""Hostile HTTP against the real server: protocol abuse, methods, traversal, Range, Accept, ids.

Every case gets its documented 4xx as a JSON error (exactly one response on the wire) and
leaves nothing behind: no staging file, no blob, no record.
"""

from __future__ import annotations

import msgpack
import pytest

from tests.conftest import body_of, path_of
from tests.hostile_support import (
    assert_json_error,
    error_of,
    footprint,
    raw_exchange,
    request_bytes,
    settled,
)

pytestmark = pytest.mark.usefixtures("no_server_errors")


async def stored(upload, data: bytes = b"0123456789abcdefghij", name: str = "x.txt") -> dict:
    resp = await upload(data, name)
    assert resp.code == 201, resp.body
    return body_of(resp)


# -- below the handlers: request line, headers, framing ---------------------------------------
@pytest.mark.gen_test
async def test_malformed_request_line_is_json_400(http_port, settings):
    before = footprint(settings.data_dir)
    for line in (b"GARBAGE\r\n\r\n", b"GET /\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
                 b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\x01\x02 / HTTP/1.1\r\n\r\n"):
        resp = await raw_exchange(http_port, line)
        assert_json_error(resp, 400, "bad_request")
        assert resp.headers["connection"] == "close"
    resp = await raw_exchange(http_port, b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    assert_json_error(resp, 400, "bad_request")
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
@pytest.mark.parametrize("request_head", [
    b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # duplicate Host
    b"GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n",  # invalid Host
    b"GET /healthz HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
    b"GET /healthz?" + b"a=1&" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # too many query fields
    # Found by the request-head fuzzer: HTTP/1.0 checks Transfer-Encoding before any hook.
    b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"PUT /a.txt HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n",
])
async def test_requests_tornado_refuses_while_building_them(http_port, request_head):
    resp = await raw_exchange(http_port, request_head)
    assert_json_error(resp, 400, "bad_request")


@pytest.mark.gen_test
async def test_oversize_headers_get_431_json(http_port):
    resp = await raw_exchange(http_port, request_bytes("GET", "/healthz", {"X-Big": "a" * 100_000}))
    assert_json_error(resp, 431, "headers_too_large")
    many = [(f"X-H{i}", "v" * 100) for i in range(800)]  # 80 kB in many small headers
    resp = await raw_exchange(http_port, request_bytes("GET", "/healthz", many))
    assert_json_error(resp, 431, "headers_too_large")
    # Up to the limit is fine.
    resp = await raw_exchange(http_port, request_bytes("GET", "/healthz", {"X-Big": "a" * 30_000}))
    assert resp.status == 200


@pytest.mark.gen_test
async def test_header_block_beyond_read_cap_closes_quietly(http_port):
    # Over 1 MiB without the blank line: Tornado stops reading; no answer, no traceback (fixture).
    resp = await raw_exchange(http_port, request_bytes("GET", "/", {"X-Big": "a" * (1 << 20)}))
    assert resp.status in (0, 431)
    follow = await raw_exchange(http_port, request_bytes("GET", "/healthz"))
    assert follow.status == 200


@pytest.mark.gen_test
@pytest.mark.parametrize("value", ["1e5", "-5", "5_0", "0x10", " 5 5", "5, 6", "99999999999999999999999999"])
@pytest.mark.parametrize("path", ["/", "/x.txt", "/api/v1/files/x.txt", "/healthz", "/api/v1/files"])
async def test_absurd_content_length(http_port, settings, path, value):
    before = footprint(settings.data_dir)
    method = "POST" if path in ("/", "/healthz", "/api/v1/files") else "PUT"
    headers = [("Content-Type", "multipart/form-data; boundary=b"), ("Content-Length", value)]
    resp = await raw_exchange(http_port, request_bytes(method, path, headers, b"hello"))
    err = assert_json_error(resp, (400, 405, 413))
    if value.startswith("999"):
        assert resp.status in (405, 413), err
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
async def test_bad_framing_is_one_json_answer(http_port, settings):
    before = footprint(settings.data_dir)
    cases = [
        [("Transfer-Encoding", "chunked")], [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
        [("Transfer-Encoding", "gzip, chunked")],
    ]
    for headers in cases:
        resp = await raw_exchange(http_port, request_bytes("PUT", "/f.txt", headers, b"zz\r\nhello\r\n0\r\n\r\n"))
        assert_json_error(resp, 400)
    # Unequal duplicate Content-Length.
    resp = await raw_exchange(http_port, request_bytes("PUT", "/f.txt", [("Content-Length", "5"),
                                                                        ("Content-Length", "6")], b"hello!"))
    assert_json_error(resp, 400)
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
async def test_body_on_a_route_that_does_not_stream_is_not_buffered(http_port, settings):
    # Used to be read whole into memory (up to the upload limit) before answering 405.
    before = footprint(settings.data_dir)
    resp = await raw_exchange(http_port, [request_bytes("POST", "/healthz", {"Content-Length": str(64 << 20)}),
                                          b"x" * (1 << 20)])
    assert_json_error(resp, 413, "too_large")
    resp = await raw_exchange(http_port, request_bytes("GET", "/api/v1/files", {}, b"x" * (200 << 10)))
    assert_json_error(resp, 413)
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
async def test_upload_refused_in_prepare_gets_exactly_one_answer(http_port, settings):
    before = footprint(settings.data_dir)
    resp = await raw_exchange(http_port, request_bytes(
        "POST", "/", [("Content-Type", "multipart/form-data; boundary=b"), ("Content-Length", str(1 << 62))],
        b"--b\r\n"))
    assert_json_error(resp, 413, "too_large")
    # (A text/plain body is a raw paste now: tests/previews/test_text.py; other multiparts are refused.)
    resp = await raw_exchange(http_port, request_bytes("POST", "/", [("Content-Type", "multipart/mixed")], b"hi"))
    assert_json_error(resp, 415)
    resp = await raw_exchange(http_port, request_bytes("PUT", "/a.txt", [], b"", content_length=False))
    assert_json_error(resp, 411, "length_required")
    await settled(settings.data_dir, before)


# -- methods -----------------------------------------------------------------------------------
@pytest.mark.gen_test
@pytest.mark.parametrize(("method", "path", "allow"), [
    ("TRACE", "/", {"GET", "POST"}),
    ("TRACE", "/api/v1/files", {"GET"}),
    ("DELETE", "/api/v1/files", {"GET"}),
    ("POST", "/healthz", {"GET"}),
    ("POST", "/api/v1/files/0123456789abcdef.txt", {"GET", "DELETE", "PATCH", "PUT"}),  # PATCH: manage links
    ("PUT", "/healthz", {"GET"}),
    ("OPTIONS", "/api/v1/files", {"GET"}),
    ("CONNECT", "/", {"GET", "POST"}),
    ("FOO", "/api/v1/files", {"GET"}),
    ("BREW", "/", {"GET", "POST"}),
])
async def test_method_abuse_405_with_allow(http_port, settings, method, path, allow):
    before = footprint(settings.data_dir)
    resp = await raw_exchange(http_port, request_bytes(method, path))
    assert_json_error(resp, 405, "method_not_allowed")
    # HEAD is allowed wherever GET is (tests/handlers/test_pages_http.py).
    assert {m.strip() for m in resp.headers["allow"].split(",")} == allow | {"HEAD"}
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
@pytest.mark.parametrize("method", ["BREW", "TRACE", "DELETE", "PROPFIND"])
async def test_any_method_on_nothing_is_404(http_port, method):
    resp = await raw_exchange(http_port, request_bytes(method, "/no/such/path"))
    assert_json_error(resp, 404, "not_found")


@pytest.mark.gen_test
async def test_trace_never_echoes_the_request(http_port):
    for path in ("/i/x", "/", "/api/v1/files"):
        resp = await raw_exchange(http_port, request_bytes("TRACE", path, {"Cookie": "secret=1"}))
        assert resp.status in (404, 405)
        assert b"secret" not in resp.raw


@pytest.mark.gen_test
async def test_blob_routes_refuse_writes(fetch, upload):
    card = await stored(upload)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        resp = await fetch(path_of(card["url_i"]), method=method, body=b"x" if method != "DELETE" else None)
        assert resp.code == 405, (method, resp.code)
        assert set(resp.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
        error_of(resp.code, resp.headers["Content-Type"], resp.body)


# -- path traversal in every route -------------------------------------------------------------
TRAVERSALS = [
    "../settings.py", "..%2fsettings.py", "%2e%2e/settings.py", "%2e%2e%2fsettings.py",
    "%252e%252e%252fsettings.py", "..%252fsettings.py", "..%5csettings.py", "....//....//settings.py",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%c0%afsettings.py", "%c0%ae%c0%ae/settings.py",
    "/etc/passwd", "..;/settings.py", "%00../settings.py",
]
PREFIXES = ["/", "/p/", "/p/0123456789abcdef.txt/", "/i/", "/d/", "/s/", "/r/", "/api/v1/files/", "/static/",
            "/static/../", "/api/v1/", "/api/v1/tus/", "/ws/"]


@pytest.mark.gen_test
async def test_path_traversal_in_every_route(fetch, settings):
    before = footprint(settings.data_dir)
    for prefix in PREFIXES:
        for attack in TRAVERSALS:
            for method in ("GET", "HEAD"):
                resp = await fetch(prefix + attack, method=method, headers={"Accept": "application/json"})
                assert 400 <= resp.code < 500, (prefix + attack, resp.code)
                if method == "GET":
                    error_of(resp.code, resp.headers.get("Content-Type", ""), resp.body)
                assert b"class Settings" not in resp.body and b"root:" not in resp.body
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
async def test_traversal_in_put_filename_stays_a_name(fetch, settings, tmp_path):
    for i, attack in enumerate(["..%2f..%2fevil.txt", "..%5c..%5cevil.txt", "%252e%252e%252fevil.txt",
                                "%2e%2e%2f%2e%2e%2fevil.txt"]):
        resp = await fetch("/" + attack, method="PUT", body=f"payload {i}\n".encode(),
                           headers={"Accept": "application/json"})
        assert resp.code == 201, resp.body
        name = body_of(resp)["filename"]
        assert "/" not in name and "\\" not in name and not name.startswith("."), name
    # Nothing was written outside the data dir's blob/tmp layout.
    assert not list(tmp_path.rglob("evil*"))


# -- Range -------------------------------------------------------------------------------------
@pytest.mark.gen_test
async def test_bad_range_forms(fetch, upload):
    card = await stored(upload, b"0123456789" * 3)
    for url in (card["url_i"], card["url_d"]):
        path = path_of(url)
        for value in ("bytes=30-", "bytes=100-200", "bytes=-0", "bytes=99999999999999999999-"):
            resp = await fetch(path, headers={"Range": value})
            assert resp.code == 416, (value, resp.code)
            assert resp.headers["Content-Range"] == "bytes */30"
            error_of(resp.code, resp.headers["Content-Type"], resp.body)
        # Forms a server may ignore: the whole file, never an error.
        for value in ("bytes=0-1,3-4", "items=0-1", "bytes=abc", "bytes=-", "bytes==1-2", "bytes=\u00b2-3",
                      "bytes=--1", "bytes= 1 - 2 ", "", "bytes=1-2-3", "bytes=0x1-2"):
            resp = await fetch(path, headers={"Range": value.encode("utf-8").decode("latin1")})
            assert resp.code in (200, 206, 416), (value, resp.code)
            if resp.code == 200:
                assert resp.body == b"0123456789" * 3
            if resp.code == 416:
                error_of(resp.code, resp.headers["Content-Type"], resp.body)
        resp = await fetch(path, headers={"Range": "bytes=-5"})
        assert resp.code == 206 and resp.body == b"56789"


# -- Accept ------------------------------------------------------------------------------------
@pytest.mark.gen_test
async def test_bad_accept(fetch, upload, settings):
    card = await stored(upload)
    for value in ("text/html", "image/png", ";;;,,/", "application/json;q=0", "*/*;q=0", "application/xml"):
        for path in ("/api/v1/files", path_of(card["url_api"]), "/healthz"):
            resp = await fetch(path, headers={"Accept": value})
            assert resp.code == 406, (value, path, resp.code)
            error_of(resp.code, resp.headers["Content-Type"], resp.body)
    # msgpack clients get msgpack errors.
    resp = await fetch("/api/v1/files/nope", headers={"Accept": "application/msgpack"})
    assert resp.code == 404 and msgpack.unpackb(resp.body)["error"]["code"] == "not_found"


@pytest.mark.gen_test
async def test_upload_with_unacceptable_accept_leaves_nothing(fetch, upload, settings):
    before = footprint(settings.data_dir)
    resp = await upload(b"not stored", "n.txt", headers={"Accept": "image/png"})
    assert resp.code == 406, resp.body
    resp = await fetch("/n.txt", method="PUT", body=b"not stored either", headers={"Accept": "image/*"})
    assert resp.code == 406
    await settled(settings.data_dir, before)


# -- ids, short codes, cursors -----------------------------------------------------------------
@pytest.mark.gen_test
async def test_invalid_short_codes(fetch, upload):
    card = await stored(upload)
    code = card["short_code"]
    for bad in ("0", "a" * 17, "a" * 32, code + "a", code.swapcase() if code.swapcase() != code else code + "z",
                "%FF", "%C2%B2", "..", "a-b", "aaaaa%00",
                "zzzzzzzzzzzzzzzz", "0000000000000000", "zzzzzzzz", "zzzzzzzzzzz"):  # (sqids raised on these)
        resp = await fetch(f"/s/{bad}", headers={"Accept": "application/json"})
        assert resp.code == 404, (bad, resp.code)
        error_of(resp.code, resp.headers["Content-Type"], resp.body)
    resp = await fetch(f"/s/{code}")
    assert resp.code == 302


@pytest.mark.gen_test
async def test_invalid_cursors_and_limits(fetch, upload):
    await stored(upload)
    for name in ("before", "limit"):
        for value in ("0", "-1", "abc", "%C2%B2", "%EF%BC%91", "%E2%91%A0", "1e3", "1.5", "%2B1", "-0",
                      "99999999999999999999999", "0x10", "%FF"):
            resp = await fetch(f"/api/v1/files?{name}={value}")
            assert resp.code == 400, (name, value, resp.code, resp.body)
            error_of(resp.code, resp.headers["Content-Type"], resp.body)
    resp = await fetch("/api/v1/files?limit=101")
    assert resp.code == 400


@pytest.mark.gen_test
async def test_invalid_file_keys(fetch, upload):
    await stored(upload)
    for key in ("%C2%B2", "%E2%91%A0", "%EF%BC%91", "99999999999999999999999", "0", "-1", "%FF%FE",
                "0123456789abcdef.txt", "0123456789ABCDEF.txt", "x" * 300):
        for method in ("GET", "DELETE"):
            resp = await fetch(f"/api/v1/files/{key}", method=method, headers={"X-Delete-Token": "t"})
            assert resp.code in (400, 404), (key, method, resp.code)
            error_of(resp.code, resp.headers["Content-Type"], resp.body)


@pytest.mark.gen_test
async def test_static_traversal_is_a_json_error(fetch):
    for path in ("/static/../settings.py", "/static/..%2fsettings.py", "/static/%2e%2e/run.py"):
        resp = await fetch(path)
        assert resp.code in (403, 404)
        error_of(resp.code, resp.headers["Content-Type"], resp.body)


# -- event cursors (long-poll and WebSocket) and tus numbers ------------------------------------
BAD_CURSORS = ["abc", "-1", "%C2%B2", "%EF%BC%91", "%E2%91%A0", "1e3", "1.5", "0x10", "99999999999999999999999", "%FF"]


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/api/v1/events", "/ws"])
async def test_invalid_event_cursors(fetch, path):
    for value in BAD_CURSORS:
        resp = await fetch(f"{path}?cursor={value}&timeout=0")
        assert resp.code == 400, (path, value, resp.code, resp.body)
        error_of(resp.code, resp.headers["Content-Type"], resp.body)
    # The long-poll takes timeout (and answers by Accept); the WebSocket takes format.
    extra = ("timeout=abc", "timeout=nan", "timeout=inf", "timeout=-1", "timeout=1e400") if path != "/ws" \
        else ("format=xml", "format=")
    for query in ("file=..%2fx", "file=0123456789abcdef.txt", *extra):
        resp = await fetch(f"{path}?{query}" if query.startswith("timeout") else f"{path}?{query}&timeout=0")
        assert resp.code == 400, (path, query, resp.code)
        error_of(resp.code, resp.headers["Content-Type"], resp.body)


@pytest.mark.gen_test
async def test_tus_numbers_are_ascii(http_port, settings):
    before = footprint(settings.data_dir)
    for value in ("\xb2", "\u0661", "-1", "1e3", "99999999999999999999"):
        head = [("Tus-Resumable", "1.0.0"), ("Upload-Length", value)]
        resp = await raw_exchange(http_port, request_bytes("POST", "/api/v1/tus/", head).replace(
            value.encode("utf-8", "surrogateescape"), value.encode("latin-1", "replace")))
        assert_json_error(resp, 400)
    await settled(settings.data_dir, before)
