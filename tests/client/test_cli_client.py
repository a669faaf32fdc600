"""The CLI client (python -m tornado_paste.client) against a real run.py: uploads (form and tus),
standard input, links printed, delete, info, the progress bar, and a tus upload resumed after an
interruption."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tomllib

import pytest

from tests.helpers import ROOT, ServerProcess
from tornado_paste.client.http import Server
from tornado_paste.client.tus import StateFile, tus_upload


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("cli") / "data").start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-3000:]


def cli(live, *args, stdin=None):
    done = subprocess.run([sys.executable, "-m", "tornado_paste.client", "--server", live.url, *args], cwd=ROOT,
                          input=stdin, capture_output=True, timeout=120)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def info(live, link):
    code, out, err = cli(live, "info", link)
    assert code == 0, err
    return json.loads(out)


def test_upload_files_and_stdin_prints_short_and_delete_links(live, tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b b.txt"
    first.write_bytes(b"first " + os.urandom(8).hex().encode())
    second.write_bytes(b"second " + os.urandom(8).hex().encode())
    code, out, err = cli(live, "upload", str(first), str(second), "--expires", "1h")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(live.url + "/s/") and lines[1].startswith(live.url + "/delete/")
    card = info(live, lines[2])
    assert card["filename"] == "b b.txt" and card["expires_at"] is not None
    assert "expires " in err
    # Without the subcommand, and from standard input (named by the server from its type and time).
    code, out, err = cli(live, "-", stdin=b"piped into the client " + os.urandom(4).hex().encode())
    assert code == 0, err
    assert re.fullmatch(r"paste-\d{8}-\d{4}\.txt", info(live, out.splitlines()[0])["filename"])
    code, out, _ = cli(live, "upload", "--private", "--json", str(first) + "x")
    assert code == 1  # a missing file fails, and says so
    code, out, err = cli(live, "upload", "--private", "--json", "--name", "renamed.txt", "-",
                         stdin=b"secret " + os.urandom(4))
    assert code == 0, err
    card = json.loads(out)
    assert card["private"] is True and card["filename"] == "renamed.txt" and card["transport"] == "form"


def test_delete_with_the_delete_link_or_a_token(live, tmp_path):
    code, out, _ = cli(live, "-", stdin=b"delete me " + os.urandom(8))
    assert code == 0
    short, delete = out.splitlines()
    code, out, err = cli(live, "delete", delete)
    assert code == 0 and out.startswith("deleted "), err
    code, _, err = cli(live, "info", short)
    assert code == 1 and "404" in err
    code, out, err = cli(live, "upload", "--json", "-", stdin=b"with a token " + os.urandom(8))
    card = json.loads(out)
    assert cli(live, "delete", card["url_i"], "--token", "wrong")[0] == 1
    assert cli(live, "delete", card["url_i"])[0] == 2  # no token at all
    # --token=<token>: a token may start with "-" (token_urlsafe), which argparse reads as an option.
    assert cli(live, "delete", card["url_i"], f"--token={card['delete_token']}")[0] == 0


def test_big_files_go_through_tus_with_a_progress_bar(live, tmp_path):
    data = os.urandom(300_000)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    code, out, err = cli(live, "upload", "--json", "--progress", "always", "--tus-threshold", "100k",
                         "--chunk-size", "64k", "--state-file", str(tmp_path / "state.json"), str(path))
    assert code == 0, err
    card = json.loads(out)
    assert card["transport"] == "tus" and card["resumed_from"] == 0
    assert card["sha256"] == hashlib.sha256(data).hexdigest() and card["filename"] == "big.bin"
    assert card["url_delete"].startswith(f"{live.url}/delete/{card['filehash']}#")
    assert "big.bin" in err  # the bar (rich) drew on standard error
    assert json.loads((tmp_path / "state.json").read_text()) == {}


class Interrupted(Exception):
    pass


@pytest.mark.gen_test(timeout=60)
async def test_an_interrupted_tus_upload_resumes_where_the_server_stands(live, tmp_path):
    data = os.urandom(256 * 1024)
    path = tmp_path / "resume.bin"
    path.write_bytes(data)
    state_path = tmp_path / "state.json"
    stat = os.stat(path)
    key = f"{live.url}|{path}|{len(data)}|{stat.st_mtime_ns}"
    seen = []

    def stop_after_first_patch(done: int) -> None:
        seen.append(done)
        if done >= 64 * 1024:
            raise Interrupted()

    server = Server(live.url)
    try:
        with pytest.raises(Interrupted):
            await tus_upload(server, io.BytesIO(data), len(data), {"filename": "resume.bin"}, key,
                             StateFile(str(state_path)), 64 * 1024, stop_after_first_patch)
    finally:
        server.http.close()
    assert seen == [0, 64 * 1024]
    kept = json.loads(state_path.read_text())
    assert list(kept) == [key]  # the upload URL is kept for the next run

    code, out, err = cli(live, "upload", "--json", "--tus-threshold", "1k", "--chunk-size", "64k",
                         "--state-file", str(state_path), str(path))
    assert code == 0, err
    card = json.loads(out)
    assert card["resumed_from"] == 64 * 1024  # only the rest was sent
    assert card["upload_url"] == kept[key]  # the same upload, continued
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    assert json.loads(state_path.read_text()) == {}


def test_console_script_is_declared():
    with open(ROOT / "pyproject.toml", "rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    assert scripts["tornado-paste"] == "tornado_paste.client.__main__:main"
    from tornado_paste.client.__main__ import main

    assert callable(main)
