"""Preview pages of every type in a real Chromium: posters, cover art, PDF and image pages, the
highlighted text view with its line anchors and copy button, and the unfurl meta tags in the DOM.
No page may break its CSP (script-src 'self', no inline script) or throw."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests import mediagen
from tests.helpers import multipart_body, require_tool
from tests.uikit import png_bytes

pytestmark = pytest.mark.system

SOURCE = "def one():\n    return 1\n\n\ndef two():\n    return 2\n\n# the end\n"


@pytest.fixture(scope="module", autouse=True)
def _tools():
    for tool in ("ffmpeg", "ffprobe", "pdfinfo", "pdftoppm"):
        require_tool(tool)


def post(server, data: bytes, name: str) -> dict:
    body, ctype = multipart_body(None, {"file": (name, data, "application/octet-stream")})
    request = urllib.request.Request(server.url + "/", data=body, method="POST",
                                     headers={"Content-Type": ctype, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def metas(page) -> dict[str, str]:
    return page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll(
        'meta[property^="og:"], meta[name^="twitter:"]'), (m) => [m.getAttribute('property') || m.name, m.content]))""")


def loaded(page, selector: str) -> int:
    """naturalWidth of an <img> once it has loaded (0 = broken)."""
    return page.eval_on_selector(selector, """(img) => img.complete ? img.naturalWidth :
        new Promise((done) => { img.onload = () => done(img.naturalWidth); img.onerror = () => done(0); })""")


def test_video_page_has_its_poster(page, ui_server):
    card = post(ui_server, mediagen.video_mp4(), "clip.mp4")
    page.goto(card["url_p"])
    video = page.locator("video")
    poster = video.get_attribute("poster")
    assert poster and poster.startswith(ui_server.url + "/i/") and poster.endswith(".jpg")
    size = page.evaluate("""(src) => new Promise((done) => { const i = new Image(); i.onload = () =>
        done([i.naturalWidth, i.naturalHeight]); i.onerror = () => done(null); i.src = src; })""", poster)
    assert size == [320, 240]
    assert page.locator("dd.duration").inner_text() == "0:04"
    tags = metas(page)
    assert tags["og:image"] == poster and tags["og:video"] == card["url_i"] and tags["og:type"] == "video.other"
    oembed = page.locator('link[rel="alternate"][type="application/json+oembed"]').get_attribute("href")
    assert page.request.get(oembed).json()["type"] == "video"


def test_audio_page_shows_its_cover_art(page, ui_server):
    card = post(ui_server, mediagen.audio_mp3(), "song.mp3")
    page.goto(card["url_p"])
    assert loaded(page, "img.cover-art") == 300
    assert page.locator("audio").count() == 1
    assert metas(page)["og:image"] == page.locator("img.cover-art").get_attribute("src")


def test_pdf_page_names_its_thumbnail(page, ui_server):
    card = post(ui_server, mediagen.pdf_pages(2), "doc.pdf")
    page.goto(card["url_p"])
    assert page.locator("embed.pdf").count() == 1 and page.locator("dd.pages").inner_text() == "2"
    thumbnail = metas(page)["og:image"]
    response = page.request.get(thumbnail)
    assert response.status == 200 and response.headers["content-type"] == "image/jpeg"


def test_image_page_is_its_own_og_image(page, ui_server):
    card = post(ui_server, png_bytes(90, 60), "pic.png")
    page.goto(card["url_p"])
    tags = metas(page)
    assert tags["og:image"] == card["url_i"] and tags["og:image:width"] == "90"
    assert tags["twitter:card"] == "summary_large_image"


def test_text_page_highlights_and_anchors_lines(page, ui_server, context):
    card = post(ui_server, SOURCE.encode(), "two.py")
    page.goto(card["url_p"] + "#L2-L3")
    marked = page.eval_on_selector_all(".line.hl", "(lines) => lines.map((l) => l.id)")
    assert marked == ["L2", "L3"]
    assert page.locator("#L1 .k").first.inner_text() == "def"  # highlighted by Pygments, served as HTML
    assert "Python" in page.locator(".code-language").inner_text()
    page.locator("#L5 a.ln").click()
    assert page.evaluate("location.hash") == "#L5"
    page.locator("#L7 a.ln").click(modifiers=["Shift"])
    assert page.evaluate("location.hash") == "#L5-L7"
    assert page.eval_on_selector_all(".line.hl", "(lines) => lines.map((l) => l.id)") == ["L5", "L6", "L7"]
    # Line numbers are drawn by CSS: copying gives the code alone.
    page.locator("#copy-code").click()
    page.wait_for_function("() => document.getElementById('copy-code').textContent === 'Copied!'")
    assert page.evaluate("navigator.clipboard.readText()") == SOURCE
    assert page.locator("#L2 a.ln").evaluate("(a) => getComputedStyle(a, '::before').content") == '"2"'
    # A fresh visit to a single-line anchor marks it too.
    page.goto(card["url_p"] + "#L8")
    assert page.eval_on_selector_all(".line.hl", "(lines) => lines.map((l) => l.id)") == ["L8"]


def test_upload_cards_use_the_poster_as_thumbnail(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", {"name": "cardclip.mp4", "mimeType": "video/mp4", "buffer": mediagen.video_mp4()})
    card = page.locator("#uploads .item.done").filter(has=page.locator(".item-name", has_text="cardclip.mp4")).first
    card.wait_for()
    thumb = card.locator("img.thumb")
    thumb.wait_for()
    assert "/t/" in thumb.get_attribute("src")
    assert loaded(page, "#uploads .item.done img.thumb") > 0
