"""Every curl example in the README runs, as written, against a fresh server.

The only changes to the text are the placeholders the README names: its address
(http://127.0.0.1:8000) becomes the test server's, and 0123456789abcdef.jpg, k3Xp9QzA and $TOKEN
become the filehash, short code and delete token of a real upload of photo.jpg, and CURSOR a listing's
next-page cursor. The commands run in
one bash (``set -euo pipefail``), in a scratch directory holding the files the examples name and a
``.venv/bin/python`` that is this project's environment, as in a checkout after ``make run``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.helpers import ROOT, ServerProcess, multipart_body, require_tool
from tests.uikit import PDF_BYTES

pytestmark = pytest.mark.system

README = (ROOT / "README.md").read_text()
README_BASE = "http://127.0.0.1:8000"


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, flags=re.S)


def curl_commands(markdown: str) -> list[str]:
    """The logical lines (backslash continuations joined) of every sh block that run curl."""
    commands = []
    for block in shell_blocks(markdown):
        logical = re.sub(r"\\\n\s*", " ", block)
        for line in logical.splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith("#") and re.search(r"(^|\$\()curl ", stripped):
                commands.append(stripped)
    return commands


def photo_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 90, 170)).save(out, "JPEG", quality=85)
    return out.getvalue()


def test_readme_has_curl_examples_for_the_api():
    commands = curl_commands(README)
    assert len(commands) >= 15
    joined = "\n".join(commands)
    for needed in ("-F file=@", "-T ", "/i/", "/d/", "/s/", "/p/", "/r/", "/api/v1/files", "msgpack",
                   "/api/v1/events", "/api/v1/tus/", "-X DELETE", "-I "):
        assert needed in joined, needed
    # Whatever saves a body to a file fails on an error answer instead of saving the error.
    for command in commands:
        if re.search(r"(^| )-\w*[oO]\b", command) and "/dev/null" not in command:
            assert re.search(r"(^| )-\w*f", command), command


def test_every_readme_curl_example_runs_against_a_fresh_server(tmp_path):
    require_tool("curl")
    server = ServerProcess(tmp_path / "data").start()
    try:
        work = tmp_path / "work"
        work.mkdir()
        (work / ".venv").symlink_to(sys.prefix)  # this project's virtualenv (where make puts .venv)
        photo = photo_bytes()
        (work / "photo.jpg").write_bytes(photo)
        (work / "report.pdf").write_bytes(PDF_BYTES)
        (work / "x").write_bytes(b"the quick start's x\n")
        # The upload whose filehash, code and token fill the placeholders (after an older file, so the
        # listing has a next page).
        for name, data in (("older.txt", b"an older file\n"), ("photo.jpg", photo)):
            body, ctype = multipart_body(files={"file": (name, data, "application/octet-stream")})
            request = urllib.request.Request(server.url + "/", data=body, method="POST",
                                             headers={"Content-Type": ctype, "Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                card = json.loads(response.read())
        # A cursor as a listing hands it out (its Link: rel="next"), for the "next page" example.
        with urllib.request.urlopen(server.url + "/api/v1/files?limit=1", timeout=30) as response:
            cursor = re.search(r"[?&]before=([^&>]+)", response.headers["Link"]).group(1)
        commands = []
        for command in curl_commands(README):
            command = command.replace(README_BASE, server.url)
            command = command.replace("0123456789abcdef.jpg", card["filehash"])
            command = command.replace("/s/k3Xp9QzA", "/s/" + card["short_code"])
            command = command.replace("before=CURSOR", f"before={cursor}")
            commands.append(command)
        script = ["set -euo pipefail"]
        for index, command in enumerate(commands):
            script += [f"printf '\\n### {index}\\n'", f"echo '>>> {index}' >&2", command]
        script.append("printf '\\n### end\\n'")
        done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "TOKEN": card["delete_token"]})
        outputs = dict(re.findall(r"(?m)^### (\d+|end)\n(.*?)(?=^### |\Z)", done.stdout, flags=re.S))
        started = re.findall(r"(?m)^>>> (\d+)$", done.stderr)
        last = commands[int(started[-1])] if started else "(none)"
        assert done.returncode == 0 and "end" in outputs, (
            f"exit {done.returncode}; failed at: {last}\n{done.stderr.rsplit('>>> ', 1)[-1][-2000:]}")
        out = [outputs[str(i)].strip() for i in range(len(commands))]
        by = {c: o for c, o in zip(commands, out, strict=True)}

        def output_of(fragment: str) -> str:
            return next(o for c, o in by.items() if fragment in c)

        assert re.fullmatch(rf"{re.escape(server.url)}/s/\w+", out[0])  # the quick start prints the short link
        assert (work / card["filehash"]).read_bytes() == photo
        assert (work / "first-100-bytes.jpg").read_bytes() == photo[:100]
        assert (work / "download.jpg").read_bytes() == photo
        assert output_of("-I " + server.url + "/s/").startswith("HTTP/1.1 302")
        assert output_of("-I " + server.url + "/p/").startswith("HTTP/1.1 200")
        assert "'filehash'" in output_of("msgpack.unpackb")
        assert 'rel="next"' in output_of("limit=2\"")
        assert json.loads(output_of("before="))["files"][0]["filename"] == "older.txt"
        assert json.loads(output_of("/healthz")) == {"status": "ok"}
        # A new file: the short link, then its delete link on a second line.
        short, *rest = output_of("-T report.pdf").splitlines()
        assert re.fullmatch(rf"{re.escape(server.url)}/s/\w+", short)
        assert all("/delete/" in line for line in rest)
        assert '"expires_at"' in output_of("-F private=1") and '"width":128' in output_of("-F w=128")
        # The delete at the end worked: the file is gone.
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(card["url_api"])
        assert gone.value.code == 404
    finally:
        server.stop()
