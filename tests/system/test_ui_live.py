"""UI tests of the real-time feed (/ws, /api/v1/events) and the resizer (/r/): the browser-side half
of those features' contracts."""

from __future__ import annotations

import re

import pytest

from tests.uikit import card_of, done_card, file_payload, new_context, png_bytes

pytestmark = pytest.mark.system


@pytest.fixture
def other_page(browser, ui_server, problems):
    """A second, unrelated browser (its own cookies and storage)."""
    context = new_context(browser, ui_server)
    yield problems.watch(context.new_page())
    context.close()


def _feed_item(page, name):
    return page.locator("#feed .feed-item").filter(has=page.locator(".feed-name", has_text=name))


def _wait_live(page):
    page.wait_for_function("() => ['live', 'polling'].includes(document.getElementById('feed-state').dataset.state)")


def test_other_browsers_upload_appears_in_the_feed(page, other_page):
    page.goto("/")
    _wait_live(page)
    other_page.goto("/")
    other_page.check("#opt-private")
    other_page.set_input_files("#file", file_payload("hidden-from-feed.txt", b"private words\n", "text/plain"))
    done_card(other_page, "hidden-from-feed.txt")
    other_page.uncheck("#opt-private")
    other_page.set_input_files("#file", file_payload("from-the-other-browser.txt", b"public words\n", "text/plain"))
    done_card(other_page, "from-the-other-browser.txt")
    _feed_item(page, "from-the-other-browser.txt").wait_for()
    assert _feed_item(page, "hidden-from-feed.txt").count() == 0
    # Deleting it (from the browser that holds the token) takes it out of the first browser's feed.
    _feed_item(other_page, "from-the-other-browser.txt").get_by_role("button").click()
    _feed_item(page, "from-the-other-browser.txt").wait_for(state="detached")


def test_feed_resumes_from_its_cursor_after_a_reconnect(page, other_page):
    sockets = []
    held = []

    def on_socket(ws):
        sockets.append(ws)
        if len(sockets) == 1:
            ws.connect_to_server()
        else:
            held.append(ws)  # the reconnect waits until the test lets it through

    page.route_web_socket(re.compile(r"/ws\b"), on_socket)
    page.goto("/")
    _wait_live(page)
    other_page.goto("/")
    other_page.set_input_files("#file", file_payload("before-the-cut.txt", b"one\n", "text/plain"))
    _feed_item(page, "before-the-cut.txt").wait_for()
    sockets[0].close()
    page.wait_for_function("() => document.getElementById('feed-state').dataset.state !== 'live'")
    # Uploaded while the first browser is disconnected.
    other_page.set_input_files("#file", file_payload("during-the-cut.txt", b"two\n", "text/plain"))
    done_card(other_page, "during-the-cut.txt")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page did not reconnect"
    assert "cursor=" in held[0].url
    held[0].connect_to_server()
    _feed_item(page, "during-the-cut.txt").wait_for()
    assert _feed_item(page, "before-the-cut.txt").count() == 1


def test_feed_falls_back_to_long_polling(page, other_page):
    # A "proxy" that accepts WebSockets and closes them at once.
    page.route_web_socket(re.compile(r"/ws\b"), lambda ws: ws.close())
    page.goto("/")
    page.wait_for_function("() => document.getElementById('feed-state').dataset.state === 'polling'")
    other_page.goto("/")
    other_page.set_input_files("#file", file_payload("seen-by-polling.txt", b"poll\n", "text/plain"))
    _feed_item(page, "seen-by-polling.txt").wait_for()


def test_thumbnails_come_from_the_resizer(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("thumb-source.png", png_bytes(400, 300), "image/png"))
    card = done_card(page, "thumb-source.png")
    thumb = card.locator("img.thumb")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert thumb.get_attribute("src").startswith("/r/")
    assert thumb.get_attribute("data-fallback") is None
    width = page.evaluate("(img) => img.naturalWidth", thumb.element_handle())
    assert width <= 192


def test_preview_follows_its_derivatives(page, other_page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("to-resize.png", png_bytes(300, 200), "image/png"))
    api = card_of(ui_server, done_card(page, "to-resize.png").get_attribute("data-filehash"))
    assert (api["width"], api["height"]) == (300, 200)
    page.goto(api["url_p"])
    assert page.locator("dd.dimensions").inner_text() == "300 \u00d7 200 px"
    # Someone else asks for a derivative: this page hears about it.
    other_page.goto(api["url_p"])
    response = other_page.request.get(f"/r/{api['filehash']}?w=50&h=40")
    assert response.status == 200
    page.locator("#derivatives .derivative[data-key='50x40']").wait_for()
    # The resize form makes one too, with a link that serves the resized image.
    page.fill("#resize-form input[name=w]", "64")
    page.fill("#resize-form input[name=h]", "32")
    page.locator("#resize-form button[type=submit]").click()
    entry = page.locator("#derivatives .derivative[data-key='64x32']")
    entry.wait_for()
    link = entry.locator("input").input_value()
    image = page.request.get(link)
    assert image.status == 200 and image.headers["content-type"].startswith("image/")


def test_crop_resize_on_upload(page, ui_server):
    page.goto("/")
    page.fill("#opt-w", "120")
    page.fill("#opt-h", "90")
    page.set_input_files("#file", file_payload("resize-on-upload.png", png_bytes(480, 320), "image/png"))
    card = page.locator("#uploads .item.done").first
    card.wait_for()
    assert "Resized copy of resize-on-upload.png" in card.inner_text()
    api = card_of(ui_server, card.get_attribute("data-filehash"))
    assert (api["width"], api["height"]) == (120, 90)


def test_preview_page_hears_its_file_deleted_elsewhere(page, other_page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("soon-gone.txt", b"gone soon\n", "text/plain"))
    filehash = done_card(page, "soon-gone.txt").get_attribute("data-filehash")
    token = page.evaluate("(h) => JSON.parse(localStorage.getItem('tornado-paste.delete-tokens'))[h]", filehash)
    other_page.goto(f"/p/{filehash}")
    feed_up = "() => ['live', 'polling'].includes(document.getElementById('file-page').dataset.feed)"
    other_page.wait_for_function(feed_up)
    assert other_page.locator("#delete-button").is_hidden()  # no token in this browser
    response = page.request.delete(f"/api/v1/files/{filehash}", headers={"X-Delete-Token": token})
    assert response.status == 200
    other_page.get_by_text("This file has been deleted").wait_for()
