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

from tests.helpers import ServerProcess, require_tool

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
        # Confirmations (delete) are accepted; an alert would mean a script ran that should not have.
        if dialog.type != "confirm":
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


def card_of(server: ServerProcess, filehash: str) -> dict[str, Any]:
    status, card = api_get(server, f"/api/v1/files/{filehash}")
    assert status == 200, (status, filehash)
    return card


def done_card(page: Any, name: str) -> Any:
    """The finished card of an upload named ``name`` (waits for it)."""
    card = page.locator("#uploads .item.done").filter(has=page.locator(".item-name", has_text=name)).first
    card.wait_for()
    return card
