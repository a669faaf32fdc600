"""static/js/tus.js in a real Chromium (system /usr/bin/chromium through Playwright) against run.py."""

from __future__ import annotations

import hashlib

import pytest

from tests.helpers import ServerProcess, require_tool

pytestmark = pytest.mark.system

SIZE = 300_000
# The page builds the same bytes: byte i = (i * 31 + 7) % 251.
DATA = bytes((i * 31 + 7) % 251 for i in range(SIZE))

SETUP = """
async ([size, chunk]) => {
  const { TusUpload } = await import("/static/js/tus.js");
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) % 251;
  const file = new File([bytes], "browser.bin", { type: "application/octet-stream", lastModified: 1700000000000 });
  window.__tus = { TusUpload, file, chunk, progress: [] };
  return true;
}
"""

RUN_UNTIL = """
async ([stopAt]) => {
  const t = window.__tus;
  return await new Promise((resolve) => {
    const up = new TusUpload_(t);
    function TusUpload_(t) {
      return new t.TusUpload(t.file, {
        chunkSize: t.chunk,
        metadata: { filename: "browser.bin" },
        onProgress(sent, total) {
          t.progress.push(sent);
          if (stopAt && sent >= stopAt) { up.pause(); resolve({ paused: true, url: up.url, offset: up.offset }); }
        },
        onSuccess(card) { resolve({ card, url: up.url }); },
        onError(err) { resolve({ error: String(err && err.message), status: err && err.status }); },
      });
    }
    window.__up = up;
    up.start();
  });
}
"""


@pytest.fixture(scope="module")
def browser():
    executable = require_tool("chromium", "/usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def server(tmp_path):
    with ServerProcess(tmp_path / "data") as proc:
        yield proc


def test_upload_pause_reload_resume(browser, server):
    page = browser.new_page()
    try:
        page.goto(server.url + "/healthz")
        page.evaluate(SETUP, [SIZE, 64 * 1024])
        first = page.evaluate(RUN_UNTIL, [100_000])
        assert first.get("paused"), first
        url = first["url"]
        assert url.startswith(server.url + "/api/v1/tus/")
        stored = page.evaluate("() => Object.entries(localStorage).filter(([k]) => k.includes('tus'))")
        assert [v for _, v in stored] == [url]

        page.reload()  # the tab is reloaded: only localStorage remembers the upload
        page.evaluate(SETUP, [SIZE, 64 * 1024])
        second = page.evaluate(RUN_UNTIL, [0])
        assert "card" in second, second
        assert second["url"] == url  # the same upload, resumed
        progress = page.evaluate("() => window.__tus.progress")
        assert progress[0] >= 64 * 1024  # started from the server's offset, not from 0
        card = second["card"]
        assert card["sha256"] == hashlib.sha256(DATA).hexdigest()
        assert card["filename"] == "browser.bin"
        assert card["delete_token"]
        assert page.evaluate("() => Object.keys(localStorage).filter((k) => k.includes('tus')).length") == 0
    finally:
        page.close()


def test_abort_terminates_on_the_server(browser, server):
    page = browser.new_page()
    try:
        page.goto(server.url + "/healthz")
        page.evaluate(SETUP, [SIZE, 32 * 1024])
        paused = page.evaluate(RUN_UNTIL, [40_000])
        assert paused.get("paused"), paused
        page.evaluate("async () => { await window.__up.abort(); }")
        status = page.evaluate("""async (url) => (await fetch(url, {method: "HEAD",
                                   headers: {"Tus-Resumable": "1.0.0"}})).status""", paused["url"])
        assert status == 404
    finally:
        page.close()
