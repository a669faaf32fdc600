"""The admin CLI as an operator runs it: its own process, beside a running server (SQLite)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.helpers import ROOT, ServerProcess, multipart_body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("admin") / "data",
                        env={"TORNADO_PASTE_BLOCKLIST_CACHE_TTL": "1"}).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-3000:]


def admin(server, *args, stdin=None, via_run=False):
    prefix = [str(ROOT / "run.py"), "admin"] if via_run else ["-m", "tornado_paste.admin"]
    return subprocess.run([sys.executable, *prefix, "--data-dir", str(server.data_dir), *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=60)


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def upload(server, data, name):
    body, ctype = multipart_body(files={"file": (name, data, "application/octet-stream")})
    request = urllib.request.Request(server.url + "/", data=body, method="POST",
                                     headers={"Content-Type": ctype, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_block_from_the_cli_reaches_the_running_server_within_seconds(server, tmp_path):
    data = b"to be blocked " + str(time.time()).encode()
    sha256 = hashlib.sha256(data).hexdigest()
    code, card = upload(server, data, "doc.txt")
    assert code == 201
    assert status(card["url_i"]) == 200
    done = admin(server, "--json", "block", sha256, "--reason", "test")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stored_copies"] == [sha256]
    started = time.monotonic()
    while status(card["url_i"]) != 451:
        assert time.monotonic() - started < 5
        time.sleep(0.1)
    assert upload(server, data, "again.txt")[0] == 451
    shown = admin(server, "--json", "show", card["filehash"])
    assert json.loads(shown.stdout)["blocked"] is True
    assert admin(server, "unblock", sha256).returncode == 0
    started = time.monotonic()
    while status(card["url_i"]) != 200:
        assert time.monotonic() - started < 5
        time.sleep(0.1)


def test_import_a_blocklist_file_and_stats_through_run_py(server, tmp_path):
    data = b"imported block " + str(time.time()).encode()
    code, card = upload(server, data, "x.bin")
    assert code == 201
    listing = tmp_path / "list.txt"
    listing.write_text(f"# from a hotline\n{hashlib.sha256(data).hexdigest()}  x.bin\n\n{'e' * 64}\n")
    done = admin(server, "import-blocklist", str(listing), "--reason", "hotline")
    assert done.returncode == 0, done.stderr
    assert "read: 2" in done.stdout
    bad = admin(server, "import-blocklist", "-", stdin="not-a-hash\n")
    assert bad.returncode == 1 and "line 1" in bad.stderr
    stats = admin(server, "--json", "stats", via_run=True)
    assert stats.returncode == 0, stats.stderr
    numbers = json.loads(stats.stdout)
    assert numbers["files"] >= 1 and numbers["blocked"] >= 2
    assert numbers["by_type"]["text/plain"]["files"] >= 2
    text = admin(server, "stats")
    assert text.stdout.startswith("files: ") and "by type:" in text.stdout
    removed = admin(server, "remove", card["filehash"])
    assert removed.returncode == 0, removed.stderr
    assert status(card["url_i"]) == 404
    missing = admin(server, "show", card["filehash"])
    assert missing.returncode == 1 and "no file matches" in missing.stderr
