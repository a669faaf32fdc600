"""Shares in a real Chromium: a multi-file drop becomes a collection (page, gallery, zip), an upload-request
link used from a second browser context while the creator's manage page shows the arrival live, the
manage page changing a file's expiry, and a password unlock."""

from __future__ import annotations

import io
import json
import re
import urllib.request
import zipfile
from datetime import datetime

import pytest

from tests.uikit import card_of, done_card, new_context, png_bytes

pytestmark = pytest.mark.system


def api(server, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Accept": "application/json", **({"Content-Type": "application/json"} if body is not None else {}),
            **(headers or {})}
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=hdrs)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def drop(page, files: list[tuple[str, str]]):
    transfer = page.evaluate_handle("""(files) => {
        const dt = new DataTransfer();
        for (const [name, text] of files) dt.items.add(new File([text], name, {type: "text/plain"}));
        return dt;
    }""", files)
    for kind in ("dragenter", "dragover", "drop"):
        page.dispatch_event("main", kind, {"dataTransfer": transfer})


def test_multi_file_drop_becomes_a_collection_with_gallery_and_zip(page, ui_server):
    page.goto("/")
    drop(page, [("first ✓.txt", "one\n"), ("second.txt", "two two\n"), ("first ✓.txt", "another one\n")])
    for name in ("second.txt",):
        done_card(page, name)
    page.wait_for_function("() => document.querySelectorAll('#uploads .item.done').length === 3")
    link = page.locator(".collection-banner a.collection-link")
    link.wait_for()
    url = link.get_attribute("href")
    code = url.rsplit("/", 1)[1]
    link.click()
    page.wait_for_url(re.compile(rf"/c/{code}$"))
    page.wait_for_function("() => document.querySelectorAll('#collection-files .gallery-item').length === 3")
    names = page.locator("#collection-files .gallery-name").all_inner_texts()
    assert sorted(names) == ["first ✓.txt", "first ✓.txt", "second.txt"]
    assert page.locator("#manage-link").is_visible()  # this browser created it
    with page.expect_download() as download_info:
        page.locator("#zip-link").click()
    download = download_info.value
    with open(download.path(), "rb") as handle:
        data = handle.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["first ✓ (2).txt", "first ✓.txt", "second.txt"]
        assert archive.testzip() is None


def test_unticked_box_uploads_files_one_by_one(page):
    page.goto("/")
    page.uncheck("#opt-collection")
    drop(page, [("solo-a.txt", "a\n"), ("solo-b.txt", "b\n")])
    done_card(page, "solo-a.txt")
    done_card(page, "solo-b.txt")
    assert page.locator(".collection-banner").count() == 0


def test_request_link_from_a_second_browser_and_live_arrivals(browser, ui_server, page, problems):
    coll = api(ui_server, "POST", "/api/v1/collections",
               {"title": "Photos for the album", "request": {"max_files": 3, "allowed_types": ["image/*"]}})
    page.goto(coll["url_manage"])
    page.wait_for_function("() => document.getElementById('manage-collection').dataset.feed === 'live'")
    assert page.locator("#mc-request-state").inner_text().startswith("Open")
    guest = new_context(browser, ui_server)
    try:
        other = problems.watch(guest.new_page())
        other.goto(coll["url_upload"])
        assert other.locator("h1").inner_text() == "Photos for the album"
        other.set_input_files("#request-file", {"name": "holiday.png", "mimeType": "image/png",
                                                "buffer": png_bytes(30, 20)})
        other.locator("#request-uploads .item.done").first.wait_for()
        other.set_input_files("#request-file", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"no\n"})
        failed = other.locator("#request-uploads .item.failed")
        failed.wait_for()
        assert "not accepted" in failed.inner_text()
    finally:
        guest.close()
    # The creator's page, open all along, shows the arrival without a reload.
    arrived = page.locator("#mc-files .item", has_text="holiday.png")
    arrived.wait_for()
    assert "arrived" in arrived.get_attribute("class")
    assert "1 of 3 files" in page.locator("#mc-request-limits").inner_text()


def test_manage_page_changes_expiry_and_name(page, ui_server):
    card = api(ui_server, "PUT", "/manage-me.txt?expires=1d", raw=b"manage me from the page\n")
    page.goto(card["url_manage"])
    page.locator("#manage-form").wait_for()
    before = card_of(ui_server, card["filehash"])["expires_at"]
    page.select_option("#m-expires", "7d")
    page.fill("#m-filename", "managed.txt")
    page.click("#m-save")
    page.wait_for_function("() => document.getElementById('manage-status').textContent === 'Saved.'")
    after = card_of(ui_server, card["filehash"])
    assert after["filename"] == "managed.txt"
    parse = lambda iso: datetime.fromisoformat(iso.replace("Z", "+00:00"))  # noqa: E731
    assert (parse(after["expires_at"]) - parse(before)).days >= 5
    assert page.locator("#manage-name").inner_text() == "managed.txt"
    # A wrong token is told apart (a fresh load: a changed fragment alone is no new page).
    page.goto("about:blank")
    page.goto(card["url_manage"].split("#")[0] + "#wrong")
    page.wait_for_function("() => document.getElementById('manage-status').textContent.includes('does not match')")


def test_password_unlock_in_the_browser(page, ui_server):
    card = api(ui_server, "PUT", "/locked.txt", raw=b"behind a password\n", headers={"X-Paste-Password": "s3same"})
    response = page.goto(card["url_p"])
    assert response.status == 401
    page.fill("#unlock-password", "wrong one")
    page.click("#unlock-form button[type=submit]")
    page.locator("#unlock-error").wait_for()
    assert "Wrong password" in page.locator("#unlock-error").inner_text()
    page.fill("#unlock-password", "s3same")
    page.click("#unlock-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/p/{re.escape(card['filehash'])}$"))
    assert page.locator("h1.filename").inner_text() == "locked.txt"
    raw = page.request.get(card["url_i"])
    assert raw.status == 200 and raw.body() == b"behind a password\n"
