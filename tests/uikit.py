"""Real-browser fixtures: Debian's Chromium driven by Playwright against a real ``run.py``.

Test modules import the fixtures they use (``from tests.uikit import ...``). Playwright never
downloads a browser here: it launches /usr/bin/chromium, which ``make setup-system`` installs.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import IN_CI, ROOT, ServerProcess, require_tool

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Long enough for a loaded 2-core machine; every wait polls, none sleeps.
TIMEOUT_MS = 15000


@pytest.fixture(scope="module")
def ui_server_env() -> dict[str, str]:
    """Override in a module to start the server with other settings."""
    return {"TORNADO_PASTE_DENY_TYPES": "image/gif"}


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, ui_server_env) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("ui") / "data"
    server = ServerProcess(data, env=ui_server_env).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = require_tool("chromium", "/usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_context(browser: Any, server: ServerProcess, **kwargs: Any) -> Any:
    context = browser.new_context(base_url=server.url, **kwargs)
    context.set_default_timeout(TIMEOUT_MS)
    return context


class PageProblems:
    """Uncaught page errors and CSP violations: either one fails the test that saw it."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("dialog", lambda dialog: self._dialog(dialog))
        return page

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.errors.append(f"csp: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        # Confirmations (delete) and "leave the page?" (beforeunload, during uploads) are accepted;
        # an alert would mean a script ran that should not have.
        if dialog.type not in ("confirm", "beforeunload"):
            self.errors.append(f"unexpected {dialog.type}: {dialog.message}")
        dialog.accept()


@pytest.fixture
def problems() -> Iterator[PageProblems]:
    seen = PageProblems()
    yield seen
    assert not seen.errors, seen.errors


@pytest.fixture
def context(browser, ui_server) -> Iterator[Any]:
    ctx = new_context(browser, ui_server, viewport={"width": 1280, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.url)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, problems) -> Any:
    return problems.watch(context.new_page())


# -- test data ------------------------------------------------------------------------------------
_colors = itertools.count(1)


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] | None = None) -> bytes:
    """A PNG whose bytes differ on every call (same bytes would dedupe onto an earlier file's card)."""
    from PIL import Image

    n = next(_colors)
    out = io.BytesIO()
    Image.new("RGB", (width, height), color or ((n * 67) % 256, (n * 151) % 256, 90 + n % 120)).save(out, "PNG")
    return out.getvalue()


def gif_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    return out.getvalue()


PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def file_payload(name: str, data: bytes, mime: str = "application/octet-stream") -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- talking to the server directly ---------------------------------------------------------------
def api_get(server: ServerProcess, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(server.url + path, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def api_upload(server: ServerProcess, name: str, data: bytes, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """Upload as another client would (multipart POST, JSON card), not through this page."""
    from tests.helpers import multipart_body

    body, ctype = multipart_body(fields, {"file": (name, data, "application/octet-stream")})
    request = urllib.request.Request(server.url + "/", data=body, method="POST",
                                     headers={"Content-Type": ctype, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def card_of(server: ServerProcess, filehash: str) -> dict[str, Any]:
    status, card = api_get(server, f"/api/v1/files/{filehash}")
    assert status == 200, (status, filehash)
    return card


def done_card(page: Any, name: str) -> Any:
    """The finished card of an upload named ``name`` (waits for it)."""
    card = page.locator("#uploads .item.done").filter(has=page.locator(".item-name", has_text=name)).first
    card.wait_for()
    return card


def throttle(page: Any, bytes_per_second: int) -> Any:
    """Slow this page's uploads down through the DevTools protocol (downloads stay fast)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second})
    return cdp


def wav_bytes(seconds: float = 0.3, rate: int = 8000) -> bytes:
    """A short, real WAV (libmagic: audio/x-wav), a different tone on every call."""
    import math
    import wave

    n = next(_colors)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(bytes(int(128 + 100 * math.sin(2 * math.pi * (200 + n) * i / rate))
                            for i in range(int(seconds * rate))))
    return out.getvalue()


# A real WebM recorded by the browser itself (canvas -> MediaRecorder), put into the page's file input.
RECORD_WEBM = """(name) => new Promise((resolve, reject) => {
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 48;
    const g = canvas.getContext("2d");
    const recorder = new MediaRecorder(canvas.captureStream(15), {mimeType: "video/webm"});
    const chunks = [];
    let frame = 0;
    const timer = setInterval(() => { g.fillStyle = `hsl(${frame++ * 30} 80% 50%)`; g.fillRect(0, 0, 64, 48); }, 50);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onerror = reject;
    recorder.onstop = () => {
        clearInterval(timer);
        const dt = new DataTransfer();
        dt.items.add(new File(chunks, name, {type: "video/webm"}));
        const input = document.getElementById("file");
        input.files = dt.files;
        input.dispatchEvent(new Event("change"));
        resolve();
    };
    recorder.start();
    setTimeout(() => recorder.stop(), 600);
})"""


def expire_file(server: ServerProcess, filehash: str) -> None:
    """Move a file's expiry into the past in the server's SQLite store (it then answers 410)."""
    import sqlite3

    with sqlite3.connect(server.data_dir / "paste.sqlite3") as db:
        changed = db.execute("UPDATE files SET expires_at = ? WHERE filehash = ?",
                             ("2001-01-01T00:00:00+00:00", filehash)).rowcount
    assert changed == 1, filehash


# -- axe-core -------------------------------------------------------------------------------------
AXE_JS = ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0-2.2 A and AA, plus axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_source() -> str:
    """axe-core's browser bundle from .tools/ (``make tools-axe``); skip locally, fail under CI=true."""
    if not AXE_JS.exists():
        reason = f"axe-core not installed at {AXE_JS} (run `make tools-axe`)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE_JS.read_text()


def axe_violations(page: Any, source: str) -> list[str]:
    """Inject axe-core (through DevTools, so the page's CSP stays as it is) and run it on the page."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source)
    result = page.evaluate("""async (tags) => {
        const found = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
        return found.violations.map((v) => `${v.id} (${v.impact}): ${v.help} -> ` +
            v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")} ${n.failureSummary.replace(/\\s+/g, " ")}`)
                .join(" | "));
    }""", AXE_TAGS)
    return list(result)
