"""tus-js-client (npm, pinned in the Makefile, from .tools/) in Chromium, on a page served by a second
local port, uploading to a run.py whose cors_origins lets that origin in; a third origin is refused."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IN_CI, ROOT, ServerProcess, free_port

pytestmark = pytest.mark.system

TUS_JS = ROOT / ".tools" / "node_modules" / "tus-js-client" / "dist" / "tus.min.js"
PAGE = b"""<!doctype html><meta charset="utf-8"><title>other origin</title>
<script src="/tus.min.js"></script><p id="ready">ready</p>"""
SIZE = 200_000
# The page builds the same bytes: byte i = (i * 13 + 5) % 256.
DATA = bytes((i * 13 + 5) % 256 for i in range(SIZE))

UPLOAD = """
async ([endpoint, size]) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 13 + 5) % 256;
  const seen = {};
  return await new Promise((resolve) => {
    const upload = new tus.Upload(new Blob([bytes]), {
      endpoint, chunkSize: 64 * 1024, retryDelays: [],
      metadata: { filename: "cross.bin" },
      onAfterResponse(req, res) {
        for (const name of ["X-Delete-Token", "X-File-Location", "Upload-Offset", "Tus-Resumable", "Location"]) {
          const value = res.getHeader(name);
          if (value) seen[name] = value;
        }
      },
      onSuccess() { resolve({ ok: true, url: upload.url, seen }); },
      onError(err) { resolve({ ok: false, error: String(err), seen }); },
    });
    upload.start();
  });
}
"""

LIST = """
async ([url]) => {
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  return { status: res.status, total: res.headers.get("X-Total-Count"),
           limit: res.headers.get("X-RateLimit-Limit"), body: await res.json() };
}
"""


class _PageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve_page(port: int, tus_js: bytes) -> _PageServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, ctype = (tus_js, "text/javascript") if self.path == "/tus.min.js" else (PAGE, "text/html")
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = _PageServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def origins() -> Iterator[tuple[str, str]]:
    if not TUS_JS.exists():
        reason = f"{TUS_JS.relative_to(ROOT)} missing (run `make tools-npm`)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    script = TUS_JS.read_bytes()
    allowed, refused = _serve_page(free_port(), script), _serve_page(free_port(), script)
    yield f"http://127.0.0.1:{allowed.server_port}", f"http://127.0.0.1:{refused.server_port}"
    allowed.shutdown()
    refused.shutdown()


@pytest.fixture(scope="module")
def api(tmp_path_factory, origins) -> Iterator[ServerProcess]:
    data: Path = tmp_path_factory.mktemp("cors") / "data"
    with ServerProcess(data, env={"TORNADO_PASTE_CORS_ORIGINS": origins[0]}) as server:
        yield server


def test_tus_js_client_uploads_from_an_allowed_origin(browser, api, origins):
    page = browser.new_page()
    try:
        page.goto(origins[0] + "/")
        page.wait_for_selector("#ready")
        result = page.evaluate(UPLOAD, [api.url + "/api/v1/tus/", SIZE])
        assert result["ok"], result
        seen = result["seen"]
        # Exposed headers are readable from the other origin: the delete token, the file's location.
        assert seen["X-Delete-Token"] and seen["Upload-Offset"] == str(SIZE)
        assert seen["X-File-Location"].startswith(api.url + "/api/v1/files/")
        listing = page.evaluate(LIST, [api.url + "/api/v1/files?limit=5"])
        assert listing["status"] == 200 and listing["total"] == "1" and listing["limit"]
        card = listing["body"]["files"][0]
        assert card["filename"] == "cross.bin" and card["sha256"] == hashlib.sha256(DATA).hexdigest()
    finally:
        page.close()


def test_other_origins_are_refused_by_the_browser(browser, api, origins):
    page = browser.new_page()
    try:
        page.goto(origins[1] + "/")
        page.wait_for_selector("#ready")
        result = page.evaluate(UPLOAD, [api.url + "/api/v1/tus/", 1000])
        assert not result["ok"] and result["seen"] == {}, result
        probe = "async ([u]) => { try { await fetch(u); return 'read'; } catch (e) { return 'blocked'; } }"
        failed = page.evaluate(probe, [api.url + "/api/v1/files"])
        assert failed == "blocked"
    finally:
        page.close()
