"""Screenshot and command-line uploaders against a real run.py: the served configurations, real curl
(two-line answer, piped input), the uploader shell script, the delete page, and tokens kept out of
the access log."""

from __future__ import annotations

import io
import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest

from tests.helpers import ServerProcess, require_tool
from tests.uikit import png_bytes


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("clients") / "data").start()
    yield srv
    srv.stop()


def call(url, method="GET", data=None, headers=None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def curl(*args, stdin=None):
    done = subprocess.run([require_tool("curl"), "-sS", *args], input=stdin, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def card_of(live, url):
    """The card of the file a (short) link leads to."""
    with urllib.request.urlopen(url, timeout=10) as response:  # /s/ redirects to /p/<filehash>
        filehash = urllib.parse.urlsplit(response.geturl()).path.rsplit("/", 1)[-1]
    status, _, body = call(f"{live.url}/api/v1/files/{filehash}", headers={"Accept": "application/json"})
    assert status == 200
    return json.loads(body)


def test_sharex_config_is_filled_in_with_the_public_url(live):
    status, headers, body = call(live.url + "/api/v1/clients/sharex.sxcu")
    assert status == 200
    assert headers["Content-Disposition"] == 'attachment; filename="sharex.sxcu"'
    config = json.loads(body)
    assert config["RequestURL"] == live.url + "/"
    assert (config["RequestMethod"], config["Body"], config["FileFormName"]) == ("POST", "MultipartFormData", "file")
    assert config["URL"] == "{json:url_s}"
    assert config["ThumbnailURL"] == "{json:url_i}"
    assert config["DeletionURL"] == "{json:url_delete}"
    # What ShareX does with it: the multipart POST, then its templates filled from the JSON answer.
    boundary = "sharexboundary"
    data = png_bytes()
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{config['FileFormName']}\"; "
            f"filename=\"shot.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    headers = {**config["Headers"], "Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, _, body = call(config["RequestURL"], "POST", form, headers)
    assert status == 201
    answer = json.loads(body)

    def fill(template):
        return re.sub(r"\{json:([a-z_]+)\}", lambda m: str(answer[m.group(1)]), template)

    assert fill(config["URL"]).startswith(live.url + "/s/")
    assert call(fill(config["ThumbnailURL"]))[0] == 200
    deletion = fill(config["DeletionURL"])
    assert deletion == f"{live.url}/delete/{answer['filehash']}#{answer['delete_token']}"
    # ShareX opens it with GET: a confirmation page, nothing deleted.
    status, headers, page = call(deletion.split("#")[0])
    assert status == 200 and b'method="post"' in page
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
    assert call(answer["url_i"])[0] == 200


def test_index_and_curl_recipe(live):
    status, _, body = call(live.url + "/api/v1/clients", headers={"Accept": "application/json"})
    assert status == 200
    index = json.loads(body)
    assert index["curl"] == f"curl -F file=@FILE {live.url}/"
    assert call(index["script"])[0] == 200 and call(index["sharex"])[0] == 200
    status, headers, body = call(live.url + "/api/v1/clients/curl.txt")
    assert headers["Content-Type"].startswith("text/plain") and body.decode().strip() == index["curl"]
    assert call(live.url + "/api/v1/clients/nope.exe")[0] == 404
    page = call(live.url + "/")[2].decode()
    assert "Upload from apps" in page
    for href in ("/api/v1/clients/sharex.sxcu", "/api/v1/clients/upload.sh"):
        assert f'href="{href}"' in page


def test_curl_prints_the_short_link_then_the_delete_link(live, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"curl two lines " + str(datetime.now()).encode())
    lines = curl("-F", f"file=@{path}", live.url + "/").splitlines()
    assert len(lines) == 2
    short, delete = lines
    assert short.startswith(live.url + "/s/")
    assert delete.startswith(live.url + "/delete/") and "#" in delete
    # The first line alone (what scripts read) is still the link to share.
    assert call(short)[0] == 200
    # Uploading the same bytes again is a dedupe hit: no token, so one line.
    assert curl("-F", f"file=@{path}", live.url + "/") == short + "\n"
    # Deleting from the second line with curl: the token is the fragment.
    page, token = delete.split("#")
    assert curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", "token=wrong", page) == "403"
    assert curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", f"token={token}", page) == "200"
    assert call(short)[0] == 404


def test_piped_input_is_named_from_its_type_and_the_time(live):
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    short = curl("-F", "file=@-", live.url + "/", stdin=png_bytes()).splitlines()[0]
    after = datetime.now(UTC)
    name = card_of(live, short)["filename"]
    match = re.fullmatch(r"paste-(\d{8}-\d{4})\.png", name)
    assert match, name
    stamp = datetime.strptime(match.group(1), "%Y%m%d-%H%M").replace(tzinfo=UTC)
    assert before <= stamp <= after
    # curl -T - (PUT to /-) is piped input too.
    put = curl("-T", "-", live.url + "/-", stdin=b"piped text " + str(after).encode()).splitlines()[0]
    assert re.fullmatch(r"paste-\d{8}-\d{4}\.txt", card_of(live, put)["filename"])


def test_the_uploader_script_uploads_files_and_stdin(live, tmp_path):
    status, headers, script = call(live.url + "/api/v1/clients/upload.sh")
    assert status == 200 and script.startswith(b"#!/bin/sh\n")
    assert headers["Content-Disposition"] == 'attachment; filename="upload.sh"'
    assert live.url.encode() in script
    path = tmp_path / "upload.sh"
    path.write_bytes(script)
    shot = tmp_path / "shot; one.png"  # a name curl's -F syntax would split without quoting
    shot.write_bytes(png_bytes())
    env = {"PATH": "/usr/bin:/bin", "TORNADO_PASTE_EXPIRES": "1d"}
    done = subprocess.run(["sh", str(path), str(shot)], capture_output=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    short, delete = done.stdout.decode().splitlines()
    card = card_of(live, short)
    assert card["filename"] == "shot; one.png" and card["expires_at"] is not None
    assert delete.startswith(f"{live.url}/delete/{card['filehash']}#")
    # Flameshot's `flameshot gui --raw | upload.sh`: the PNG on standard input.
    piped = subprocess.run(["sh", str(path)], input=png_bytes(), capture_output=True, env=env, timeout=30)
    assert piped.returncode == 0, piped.stderr
    assert re.fullmatch(r"paste-\d{8}-\d{4}\.png", card_of(live, piped.stdout.decode().splitlines()[0])["filename"])
    failed = subprocess.run(["sh", str(path), str(tmp_path / "missing.png")], capture_output=True, env=env,
                            timeout=30)
    assert failed.returncode == 1


def _upload(live, data, name="f.bin"):
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n').encode() \
        + data + f"\r\n--{boundary}--\r\n".encode()
    status, _, answer = call(live.url + "/", "POST", body, {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                            "Accept": "application/json"})
    assert status == 201
    return json.loads(answer)


def test_the_delete_page_confirms_on_get_and_deletes_on_post(live):
    card = _upload(live, b"delete page " + str(datetime.now()).encode())
    token, page = card["delete_token"], f"{live.url}/delete/{card['filehash']}"
    assert card["url_delete"] == f"{page}#{token}"
    # GET, with the token in the query or not at all, never deletes.
    for url in (f"{page}?token={token}", page):
        status, headers, html = call(url, headers={"Accept": "text/html"})
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b"Delete this file?" in html and b'action="/delete/' in html
        assert call(card["url_i"])[0] == 200
    assert f'value="{token}"'.encode() in call(f"{page}?token={token}")[2]
    assert call(page, "HEAD")[0] in (200, 405)
    assert call(card["url_i"])[0] == 200
    # POST: the token from the form body or X-Delete-Token; never from the query alone.
    assert call(f"{page}?token={token}", "POST", b"")[0] == 401
    assert call(page, "POST", b"token=nope", {"Content-Type": "application/x-www-form-urlencoded"})[0] == 403
    status, _, body = call(page, "POST", b"", {"X-Delete-Token": token, "Accept": "application/json"})
    assert status == 200 and json.loads(body) == {"deleted": card["filehash"]}
    assert call(card["url_i"])[0] == 404
    assert call(page)[0] == 404

    other = _upload(live, b"form delete " + str(datetime.now()).encode())
    form = urllib.parse.urlencode({"token": other["delete_token"]}).encode()
    status, _, html = call(f"{live.url}/delete/{other['filehash']}", "POST", form,
                           {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
    assert status == 200 and b"Deleted" in html
    assert call(other["url_i"])[0] == 404


def test_tokens_never_reach_the_access_log(live):
    card = _upload(live, b"log check " + str(datetime.now()).encode())
    token = card["delete_token"]
    call(f"{live.url}/delete/{card['filehash']}?token={token}")
    call(f"{live.url}/delete/{card['filehash']}?x=1&token={token}&y=2")
    call(f"{live.url}/api/v1/files/{card['filehash']}?token=wrong{token}", "DELETE")
    call(f"{live.url}/nothing/here?token={token}")
    status, _, _ = call(f"{live.url}/api/v1/files/{card['filehash']}?token={token}", "DELETE",
                        headers={"Accept": "application/json"})
    assert status == 200
    log = live.log()
    assert token not in log
    assert "token=[redacted]" in log and "x=1&token=[redacted]&y=2" in log


def test_sharex_config_in_io(live):
    """The served file is valid JSON, UTF-8, one object: what ShareX's importer expects."""
    _, _, body = call(live.url + "/api/v1/clients/sharex.sxcu")
    assert isinstance(json.load(io.BytesIO(body)), dict)
