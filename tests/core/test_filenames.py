"""Filenames: kept as typed (UTF-8), shown escaped, sent in Content-Disposition without injection."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from handlers.files import content_disposition
from tests.conftest import body_of, path_of
from tests.faults import blob_files, staging_files
from tornado_paste.core.filenames import MAX_FILENAME_BYTES, clean_filename


@pytest.mark.parametrize("raw, expected", [
    ("café 日本語 ✓.txt", "café 日本語 ✓.txt"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\report.pdf", "report.pdf"),
    ("a\r\nSet-Cookie: x=1.txt", "aSet-Cookie: x=1.txt"),
    ("tab\there\x00nul\x7f.txt", "tabherenul.txt"),
    ("evil\u202etxt.exe", "eviltxt.exe"),  # no right-to-left override spoofing
    ("  ..hidden.. ", "hidden"),
    ("..", "file.bin"),
    ("", "file.bin"),
    (None, "file.bin"),
    (b"caf\xc3\xa9.txt", "café.txt"),
    (b"bad\xff.txt", "bad\ufffd.txt"),
    ('quote"semi;colon.txt', 'quote"semi;colon.txt'),  # stored as given; only headers need care
    ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),  # NFC: one form for the same text
])
def test_clean_filename(raw, expected):
    assert clean_filename(raw, ".bin") == expected


@pytest.mark.parametrize("name", [
    "x" * 500 + ".txt",
    "日本" * 200 + ".tar.gz",
    "é" * 300,
    "a" * 10 + "." + "b" * 100,  # an "extension" too long to be one
    "🎉" * 100 + ".png",
])
def test_overlong_names_truncated_sanely(name):
    out = clean_filename(name)
    encoded = out.encode("utf-8")
    assert len(encoded) <= MAX_FILENAME_BYTES
    assert "\ufffd" not in out  # never cut inside a character
    assert out and name.startswith(out.rsplit(".", 1)[0][:5])
    if name.endswith((".txt", ".gz", ".png")):
        assert out.endswith(name.rsplit(".", 1)[1])  # the extension survives


@pytest.mark.parametrize("name", [
    "plain.txt", "café.txt", 'a"b.txt', "a\\b.txt", "a;b=c.txt", "100%.txt", "a\r\nX-Evil: 1.txt",
    "x\nContent-Type: text/html", "日本語.pdf", "",
])
def test_content_disposition_cannot_be_broken(name):
    value = content_disposition("attachment", name)
    assert "\r" not in value and "\n" not in value
    assert all(32 <= ord(c) < 127 for c in value)  # pure ASCII header
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert '"' not in fallback and "\\" not in fallback and ";" not in fallback
    encoded = value.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == name
    assert value.count(";") == 2  # exactly the two parameters


@pytest.mark.gen_test
async def test_unicode_name_round_trips_through_download(upload, fetch):
    name = "résumé 履歴書.txt"
    card = body_of(await upload(b"hello", name))
    assert card["filename"] == name
    resp = await fetch(path_of(card["url_d"]))
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert urllib.parse.unquote(disposition.split("filename*=UTF-8''")[1]) == name
    meta = body_of(await fetch(path_of(card["url_api"])))
    assert meta["filename"] == name


@pytest.mark.gen_test
async def test_header_injection_through_put_path(fetch):
    resp = await fetch("/a%0D%0ASet-Cookie:%20pwned=1%0D%0A%22x.txt", method="PUT", body=b"data",
                       headers={"Accept": "application/json"})
    assert resp.code == 201, resp.body
    card = body_of(resp)
    assert "\r" not in card["filename"] and "\n" not in card["filename"]
    dl = await fetch(path_of(card["url_d"]))
    assert dl.code == 200
    assert "Set-Cookie" not in dl.headers
    assert dl.headers.get_list("Content-Disposition") == [content_disposition("attachment", card["filename"])]


@pytest.mark.gen_test
async def test_quote_injection_in_multipart_filename(upload, fetch):
    card = body_of(await upload(b"data", "evil.txt\\\"; filename*=UTF-8''x.html"))
    dl = await fetch(path_of(card["url_d"]))
    value = dl.headers["Content-Disposition"]
    assert value.count("filename*=") == 1 and value.count('"') == 2
    assert urllib.parse.unquote(value.split("filename*=UTF-8''")[1]) == card["filename"]


@pytest.mark.gen_test
async def test_names_are_escaped_where_displayed(upload, fetch):
    name = "<img src=x onerror=alert(1)>.txt"
    card = body_of(await upload(b"xss?", name))
    assert card["filename"] == name
    page = await fetch(path_of(card["url_p"]), headers={"Accept": "text/html"})
    assert page.code == 200
    assert b"<img src=x" not in page.body
    assert b"&lt;img src=x onerror=alert(1)&gt;.txt" in page.body
    assert "<img" not in card["embed"]["html"].split(">", 1)[1]


@pytest.mark.gen_test
async def test_overlong_name_over_http(upload):
    card = body_of(await upload(b"long", "n" * 1000 + ".txt"))
    assert card["filename"].endswith(".txt") and len(card["filename"].encode()) <= MAX_FILENAME_BYTES


@pytest.mark.gen_test
async def test_invalid_utf8_multipart_filename_is_400_and_leaves_nothing(fetch, services):
    body = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="bad\xff\xfe.txt"\r\n\r\n'
            b"data\r\n--xyz--\r\n")
    resp = await fetch("/", method="POST", body=body,
                       headers={"Content-Type": "multipart/form-data; boundary=xyz", "Accept": "application/json"})
    assert resp.code == 400
    assert json.loads(resp.body)["error"]["code"] == "bad_request"
    assert staging_files(services.settings.data_dir) == [] and blob_files(services.settings.data_dir) == []
