"""Malformed multipart and hostile filenames against the real server: a JSON 4xx and no trace."""

from __future__ import annotations

import hashlib
import json
import resource
import urllib.parse

import pytest

from tests.conftest import body_of, path_of
from tests.helpers import multipart_body
from tests.hostile_support import assert_json_error, footprint, raw_exchange, request_bytes, settled

B = "BOUNDARYx"
CTYPE = f"multipart/form-data; boundary={B}"


pytestmark = pytest.mark.usefixtures("no_server_errors")


def part(name: bytes, data: bytes, filename: bytes | None = None, extra: bytes = b"") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return b"--" + B.encode() + b"\r\n" + disposition + b"\r\n" + extra + b"\r\n" + data + b"\r\n"


END = b"--" + B.encode() + b"--\r\n"


def post(body: bytes, ctype: str = CTYPE, accept: str = "application/json") -> bytes:
    return request_bytes("POST", "/", {"Content-Type": ctype, "Accept": accept}, body)


MALFORMED = {
    "no file part": part(b"other", b"x") + END,
    "two file parts": part(b"file", b"one", b"a.txt") + part(b"file", b"two", b"b.txt") + END,
    "truncated inside the file": part(b"file", b"three", b"a.txt")[:-4],
    "no closing boundary": part(b"file", b"four", b"a.txt"),
    "broken boundary": b"--BOUNDARYy\r\n" + part(b"file", b"five", b"a.txt")[len(B) + 4:] + END,
    "boundary without CRLF": b"--" + B.encode() + b"Content-Disposition: form-data; name=\"file\"\r\n\r\nsix\r\n" + END,
    "empty body": b"",
    "only the closing boundary": END,
    "garbage": b"\x00\xff" * 100,
    "invalid UTF-8 filename": part(b"file", b"seven", b"\xff\xfe\xfd.txt") + END,
    "invalid UTF-8 part name": part(b"fi\xc3\x28le", b"eight", b"a.txt") + END,
    "header line without colon": b"--" + B.encode() + b"\r\nnot a header\r\n\r\nnine\r\n" + END,
    "no Content-Disposition": b"--" + B.encode() + b"\r\nContent-Type: text/plain\r\n\r\nten\r\n" + END,
    "oversize form field": part(b"private", b"1" * 10_000) + part(b"file", b"eleven", b"a.txt") + END,
    "nested multipart": part(b"file", b"--" + B.encode() + b"\r\n", b"a.txt")[:-2],
}


@pytest.mark.gen_test
@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_multipart(http_port, settings, case):
    before = footprint(settings.data_dir)
    resp = await raw_exchange(http_port, post(MALFORMED[case]))
    assert_json_error(resp, 400)
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
@pytest.mark.parametrize("ctype", [
    "multipart/form-data", "multipart/form-data; boundary=", 'multipart/form-data; boundary=""',
    "multipart/form-data; boundary=" + "x" * 200, "multipart/form-data; boundary=\u00e9", "multipart/mixed",
    "multipart/form-data;;;;", "multipart/related; boundary=b",
])
async def test_bad_multipart_content_type(http_port, settings, ctype):
    before = footprint(settings.data_dir)
    body = part(b"file", b"twelve", b"a.txt") + END
    resp = await raw_exchange(http_port, request_bytes(
        "POST", "/", [("Content-Type", ctype), ("Accept", "application/json")] if ctype else [], body))
    assert_json_error(resp, (400, 415))
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
@pytest.mark.parametrize("ctype", ["text/plain", "", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_multipart_is_a_raw_paste_stored_as_sent(http_port, settings, ctype):
    body = part(b"file", b"twelve", b"a.txt") + END
    resp = await raw_exchange(http_port, request_bytes(
        "POST", "/", [("Content-Type", ctype), ("Accept", "application/json")] if ctype else
        [("Accept", "application/json")], body))
    assert resp.status == 201, resp.raw[:300]
    assert json.loads(resp.body)["size"] == len(body)


@pytest.mark.gen_test
async def test_huge_part_headers_are_capped(http_port, settings):
    """A part-header line is cut at 4 KiB and a header block at 8 lines, with flat memory."""
    before = footprint(settings.data_dir)
    start = b"--" + B.encode() + b'\r\nContent-Disposition: form-data; name="file"; filename="'
    size = 48 << 20
    head = request_bytes("POST", "/", {"Content-Type": CTYPE, "Accept": "application/json",
                                       "Content-Length": str(len(start) + size)}) + start
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    resp = await raw_exchange(http_port, [head] + [b"a" * (1 << 20)] * (size >> 20))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    err = assert_json_error(resp, 400, "bad_request")
    assert "exceeds" in err["message"]
    assert grown_mib < 24, f"peak RSS grew {grown_mib:.0f} MiB for a {size >> 20} MiB header"
    # Same for a boundary line that never ends, and for many header lines in one part.
    for body in (b"--" + B.encode() + b"x" * (1 << 20),
                 b"--" + B.encode() + b"\r\n" + b"X-Filler: aaaaaaaaaaaaaaaa\r\n" * 20_000):
        resp = await raw_exchange(http_port, post(body))
        assert_json_error(resp, 400, "bad_request")
    await settled(settings.data_dir, before)


@pytest.mark.gen_test
async def test_legit_bodies_are_not_caught_by_the_header_cap(fetch, settings):
    # A 3 MiB file, big unknown parts, many small fields: all fine.
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)
    body, ctype = multipart_body({"private": "0", "junk": "j" * 100_000},
                                 {"file": ("big.bin", data, "application/octet-stream"),
                                  "other": ("o.bin", b"o" * 200_000, "application/octet-stream")})
    resp = await fetch("/", method="POST", body=body, headers={"Content-Type": ctype, "Accept": "application/json"})
    assert resp.code == 201, resp.body
    assert body_of(resp)["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.gen_test
@pytest.mark.parametrize(("raw_name", "expected"), [
    # The CRLF ends the header line inside an unclosed quote: no filename, so the fallback name.
    (b"a\r\nX-Injected: 1.txt", "file.txt"),
    (b"tab\there.txt", "tabhere.txt"),
    (b"nul\x00byte.txt", "nulbyte.txt"),
    (b"../../etc/passwd", "passwd"),
    # Browsers send backslashes as they are (WHATWG): a Windows path keeps only its last name.
    (b"..\\..\\windows\\win.ini", "win.ini"),
    (b"..%2f..%2fetc%2fpasswd", "%2f..%2fetc%2fpasswd"),
    (b"%252e%252e%252fx.txt", "%252e%252e%252fx.txt"),
    (b"/abs/path.txt", "path.txt"),
    ("caf\u00e9 \u2603.txt".encode(), "caf\u00e9 \u2603.txt"),
    (b"...", None),
    (b"a" * 400 + b".txt", "a" * 196 + ".txt"),
])
async def test_hostile_filenames(fetch, settings, raw_name, expected):
    data = b"filename test " + raw_name
    resp = await raw_exchange(int(settings.port), post(part(b"file", data, raw_name) + END))
    assert resp.status == 201, resp.raw[:400]
    card = resp.json()
    name = card["filename"]
    if expected is not None:
        assert name == expected
    assert "/" not in name and "\\" not in name and not any(ord(c) < 32 or ord(c) == 127 for c in name)
    assert len(name.encode()) <= 200
    # The download header cannot be split and round-trips the name.
    dl = await fetch(path_of(card["url_d"]))
    disposition = dl.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and disposition.isascii()
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == name
    assert "X-Injected" not in dl.headers


@pytest.mark.gen_test
async def test_crlf_in_put_filename(fetch):
    resp = await fetch("/a%0D%0AX-Injected:%201.txt", method="PUT", body=b"put crlf",
                       headers={"Accept": "application/json"})
    assert resp.code == 201, resp.body
    card = body_of(resp)
    assert card["filename"] == "aX-Injected: 1.txt"
    dl = await fetch(path_of(card["url_d"]))
    assert "X-Injected" not in dl.headers
    assert "\r" not in dl.headers["Content-Disposition"]


@pytest.mark.gen_test
async def test_client_gone_mid_multipart_leaves_nothing(http_port, settings):
    before = footprint(settings.data_dir)
    body = part(b"file", b"z" * (2 << 20), b"a.bin")  # never finished
    head = request_bytes("POST", "/", {"Content-Type": CTYPE, "Content-Length": str(len(body) + 1000)})
    await raw_exchange(http_port, [head, body[: 1 << 20]], timeout=0.3)
    await settled(settings.data_dir, before)
