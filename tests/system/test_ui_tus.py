"""Big files from the upload page: the resumable tus client when the server has it, one POST otherwise."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest

from tests.helpers import ROOT
from tests.uikit import card_of, done_card, file_payload

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def ui_server_env() -> dict[str, str]:
    return {"TORNADO_PASTE_UI_TUS_MIN_SIZE": "100k"}


def _tus_available(server) -> bool:
    if not os.path.exists(ROOT / "static" / "js" / "tus.js"):
        return False
    request = urllib.request.Request(server.url + "/api/v1/tus/", method="OPTIONS")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return "Tus-Version" in response.headers
    except urllib.error.HTTPError as exc:
        return "Tus-Version" in exc.headers


def test_big_file_uploads_resumably_or_falls_back(page, ui_server):
    requests: list[tuple[str, str]] = []
    page.on("request", lambda r: requests.append((r.method, r.url.removeprefix(ui_server.url))))
    page.goto("/")
    data = os.urandom(300 * 1024)
    page.set_input_files("#file", file_payload("big.bin", data))
    card = done_card(page, "big.bin")
    api = card_of(ui_server, card.get_attribute("data-filehash"))
    assert api["size"] == len(data)
    assert page.request.get(api["url_i"]).body() == data
    via_tus = any(path.startswith("/api/v1/tus/") for _, path in requests)
    via_post = ("POST", "/") in requests
    if _tus_available(ui_server):
        assert via_tus and not via_post, requests
    else:
        assert via_post and not via_tus, requests


def test_small_file_is_one_post(page, ui_server):
    requests: list[tuple[str, str]] = []
    page.on("request", lambda r: requests.append((r.method, r.url.removeprefix(ui_server.url))))
    page.goto("/")
    page.set_input_files("#file", file_payload("small.txt", b"small\n", "text/plain"))
    done_card(page, "small.txt")
    assert ("POST", "/") in requests
    assert not any(path.startswith("/api/v1/tus/") for _, path in requests)


# Stands in for static/js/tus.js with the agreed interface, so the page's side of the contract
# (dynamic import, options, progress, pause/resume, the finished card) is tested on its own.
FAKE_TUS = """
export class TusUpload {
  constructor(file, options) {
    this.file = file;
    this.options = options;
    window.__tus = { calls: [], endpoint: options.endpoint, metadata: options.metadata };
  }
  start() {
    window.__tus.calls.push("start");
    this.options.onProgress(Math.floor(this.file.size / 2), this.file.size);
  }
  pause() { window.__tus.calls.push("pause"); }
  async resume() {
    window.__tus.calls.push("resume");
    const body = new FormData();
    body.append("file", this.file, this.options.metadata.filename);
    const response = await fetch("/", { method: "POST", body, headers: { Accept: "application/json" } });
    this.options.onProgress(this.file.size, this.file.size);
    this.options.onSuccess(await response.json());
  }
  abort() { window.__tus.calls.push("abort"); }
}
"""


def test_page_drives_the_tus_client_interface(page):
    page.route("**/static/js/tus.js*", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=FAKE_TUS))
    page.goto("/")
    page.check("#opt-private")
    page.set_input_files("#file", file_payload("resumable.bin", os.urandom(200 * 1024)))
    item = page.locator("#uploads .item.uploading")
    item.locator(".item-stats", has_text="50%").wait_for()
    item.get_by_role("button", name="Pause resumable.bin").click()
    item.get_by_role("button", name="Resume resumable.bin").click()
    done_card(page, "resumable.bin")
    tus = page.evaluate("window.__tus")
    assert tus["calls"] == ["start", "pause", "resume"]
    assert tus["endpoint"] == "/api/v1/tus/"
    assert tus["metadata"] == {"filename": "resumable.bin", "filetype": "application/octet-stream", "private": "1"}
