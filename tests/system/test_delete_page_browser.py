"""The delete link as ShareX (or a person) opens it: a real Chromium against a real run.py.

The token rides in the fragment, which the browser never sends: static/js/delete.js moves it
into the confirmation form and out of the address bar; nothing is deleted until the button.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.helpers import multipart_body
from tests.uikit import api_get, png_bytes

pytestmark = pytest.mark.system


def _upload(server):
    body, ctype = multipart_body(files={"file": ("shot.png", png_bytes(), "image/png")})
    request = urllib.request.Request(server.url + "/", data=body, method="POST",
                                     headers={"Content-Type": ctype, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_fragment_token_fills_the_form_and_the_button_deletes(page, ui_server):
    card = _upload(ui_server)
    page.goto(card["url_delete"])
    page.locator("#delete-title").wait_for()
    assert page.locator("#delete-title").inner_text() == "Delete this file?"
    assert page.locator("#delete-token").get_attribute("type") == "hidden"
    assert page.locator("#delete-token").input_value() == card["delete_token"]
    assert "#" not in page.url  # the token left the address bar (and the history entry)
    assert api_get(ui_server, f"/api/v1/files/{card['filehash']}")[0] == 200  # GET deleted nothing
    page.locator("#delete-form button[type=submit]").click()
    page.locator("#delete-result").wait_for()
    assert "shot.png" in page.locator("#delete-result").inner_text()
    assert api_get(ui_server, f"/api/v1/files/{card['filehash']}")[0] == 404


def test_without_a_token_the_page_asks_for_it(page, ui_server):
    card = _upload(ui_server)
    page.goto(f"/delete/{card['filehash']}")
    field = page.locator("#delete-token")
    assert field.get_attribute("type") == "password"
    field.fill("wrong")
    page.locator("#delete-form button[type=submit]").click()
    page.locator(".error-status").wait_for()
    assert page.locator(".error-status").inner_text() == "403"
    assert api_get(ui_server, f"/api/v1/files/{card['filehash']}")[0] == 200
