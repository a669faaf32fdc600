"""The upload and preview pages in a real Chromium (Playwright) against a real run.py.

Needs no other feature than the core: live-feed, thumbnail and derivative tests are in
test_ui_live.py.
"""

from __future__ import annotations

import re
import urllib.request
from datetime import datetime, timedelta

import pytest

from tests.uikit import PDF_BYTES, api_get, b64, card_of, done_card, file_payload, gif_bytes, new_context, png_bytes

pytestmark = pytest.mark.system


def test_page_headers_and_no_inline_script(ui_server):
    with urllib.request.urlopen(ui_server.url + "/") as response:
        csp = response.headers["Content-Security-Policy"]
        html = response.read().decode()
    # Scripts only from the static path: user content on the same origin is never a page's script.
    assert f"script-src {ui_server.url}/static/;" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert re.search(r'<script type="module" src="/static/js/upload\.js\?v=[0-9a-f]+"', html)
    assert "<script>" not in html and "onclick" not in html


def test_choose_file_shows_card_with_working_links(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("hello.txt", b"hello from chromium\n", "text/plain"))
    card = done_card(page, "hello.txt")
    assert "20 B" in card.locator(".item-meta").inner_text()
    assert "text/plain" in card.locator(".item-meta").inner_text()
    filehash = card.get_attribute("data-filehash")
    api = card_of(ui_server, filehash)
    short = card.locator("a.short-url")
    assert short.get_attribute("href") == api["url_s"]
    raw = page.request.get(api["url_i"])
    assert raw.status == 200 and raw.body() == b"hello from chromium\n"
    download = page.request.get(api["url_d"])
    assert "attachment" in download.headers["content-disposition"]
    # The short link leads to the preview page.
    short.click()
    page.wait_for_url(re.compile(rf"/p/{re.escape(filehash)}$"))
    assert page.locator("h1.filename").inner_text() == "hello.txt"


def test_keyboard_opens_chooser_from_drop_zone(page):
    # Intercept file choosers before the page exists: Playwright switches interception on asynchronously,
    # and a chooser that opens before that is a real (headless, never closing) dialog that blocks the rest.
    page.on("filechooser", lambda chooser: None)
    page.goto("/")
    # Reach the drop zone the way a keyboard user does: Tab from the top of the page.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "dropzone":
            break
    assert page.evaluate("document.activeElement.id") == "dropzone"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus ring
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(file_payload("keyboard.txt", b"typed\n", "text/plain"))
    done_card(page, "keyboard.txt")
    # Space works too.
    with page.expect_file_chooser() as chooser:
        page.keyboard.press(" ")
    chooser.value.set_files(file_payload("keyboard-space.txt", b"spaced\n", "text/plain"))
    done_card(page, "keyboard-space.txt")


def test_dropping_files_uploads_them(page):
    page.goto("/")
    transfer = page.evaluate_handle("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["first dropped\\n"], "drop-one.txt", {type: "text/plain"}));
        dt.items.add(new File(["second dropped\\n"], "drop-two.txt", {type: "text/plain"}));
        return dt;
    }""")
    for kind in ("dragenter", "dragover"):
        page.dispatch_event("main", kind, {"dataTransfer": transfer})
    assert "dragging" in page.locator("body").get_attribute("class")
    page.dispatch_event("main", "drop", {"dataTransfer": transfer})
    done_card(page, "drop-one.txt")
    done_card(page, "drop-two.txt")
    assert "dragging" not in (page.locator("body").get_attribute("class") or "")


def test_pasting_an_image_and_text(page, ui_server):
    page.goto("/")
    # A real clipboard paste: put a PNG on the system clipboard, then Ctrl+V.
    page.evaluate("""async (data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        await navigator.clipboard.write([new ClipboardItem({"image/png": new Blob([bytes], {type: "image/png"})})]);
    }""", b64(png_bytes(40, 30)))
    page.locator("body").press("Control+v")
    # A paste is never published by itself: it waits for a yes (tests/system/test_ui_trust.py).
    page.locator("#uploads .item.pending").get_by_role("button", name="Upload").click()
    card = page.locator("#uploads .item.done").first
    card.wait_for()
    assert re.fullmatch(r"pasted-[\d-]+\.png", card.locator(".item-name").inner_text())
    api = card_of(ui_server, card.get_attribute("data-filehash"))
    assert api["type"] == "image" and api["mimetype"] == "image/png"
    # Pasted text becomes a .txt upload.
    page.evaluate("navigator.clipboard.writeText('some pasted words')")
    page.locator("body").press("Control+v")
    page.locator("#uploads .item.pending").get_by_role("button", name="Upload").click()
    text_card = page.locator("#uploads .item.done").filter(has_text=".txt").first
    text_card.wait_for()
    api = card_of(ui_server, text_card.get_attribute("data-filehash"))
    assert api["mimetype"] == "text/plain" and api["size"] == len("some pasted words")
    # Pasting into the size boxes stays a paste into the box.
    page.locator("#opt-w").focus()
    page.evaluate("navigator.clipboard.writeText('120')")
    page.keyboard.press("Control+v")
    assert page.locator("#opt-w").input_value() == "120"
    assert page.locator("#uploads .item").count() == 2


def _throttle(page, bytes_per_second: int):
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second})
    return cdp


def test_two_files_upload_at_once_with_real_progress(page, ui_server):
    page.goto("/")
    _throttle(page, 256 * 1024)
    size = 384 * 1024
    page.set_input_files("#file", [file_payload("big-a.bin", b"a" * size), file_payload("big-b.bin", b"b" * size)])
    # Both bars move at the same time: each is past 0 and short of the end in one look.
    page.wait_for_function("""() => {
        const bars = [...document.querySelectorAll('#uploads .item.uploading progress')];
        return bars.length === 2 && bars.every((bar) => bar.value > 0 && bar.value < bar.max);
    }""")
    # The speed shows once it has been measured (static/js/speed.js), while both still run.
    page.wait_for_function("""() => {
        const stats = [...document.querySelectorAll('#uploads .item.uploading .item-stats')];
        return stats.length === 2 && stats.every((s) => s.textContent.endsWith('/s'));
    }""")
    stats = page.locator("#uploads .item.uploading .item-stats").all_inner_texts()
    assert all(re.search(r"\d+% · [\d.]+ (B|KiB|MiB)/s", text) for text in stats), stats
    done_card(page, "big-a.bin")
    done_card(page, "big-b.bin")


def test_cancel_leaves_nothing_behind(page, ui_server):
    page.goto("/")
    _throttle(page, 64 * 1024)
    _, before = api_get(ui_server, "/api/v1/files?limit=1")
    page.set_input_files("#file", file_payload("cancel-me.bin", b"c" * (512 * 1024)))
    item = page.locator("#uploads .item.uploading")
    page.wait_for_function("() => document.querySelector('#uploads .item.uploading progress')?.value > 0")
    item.get_by_role("button", name="Cancel cancel-me.bin").click()
    cancelled = page.locator("#uploads .item.cancelled")
    cancelled.wait_for()
    assert "cancelled" in cancelled.inner_text()
    _, after = api_get(ui_server, "/api/v1/files?limit=1")
    assert after["total"] == before["total"]


def test_refused_file_shows_the_api_message(page):
    page.goto("/")
    page.set_input_files("#file", file_payload("animation.gif", gif_bytes(), "image/gif"))
    failed = page.locator("#uploads .item.failed")
    failed.wait_for()
    assert "files of type image/gif are not accepted here" in failed.get_by_role("alert").inner_text()


def test_xss_filename_is_only_text(page, ui_server):
    # (Browsers send '"' in a multipart filename as %22, so the vector avoids it.)
    name = "<img src=x onerror=window.__owned=1><b>&amp;'.txt"
    page.goto("/")
    page.set_input_files("#file", file_payload(name, b"harmless\n", "text/plain"))
    card = page.locator("#uploads .item.done").first
    card.wait_for()
    assert card.locator(".item-name").inner_text() == name
    assert page.locator("img[src='x']").count() == 0
    card.locator("a.item-name").click()
    page.wait_for_url(re.compile(r"/p/"))
    assert page.locator("h1.filename").inner_text() == name
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("window.__owned") is None


def test_copy_buttons_put_the_right_text_on_the_clipboard(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("copy me.png", png_bytes(), "image/png"))
    card = done_card(page, "copy me.png")
    api = card_of(ui_server, card.get_attribute("data-filehash"))
    expected = {
        "Copy short link": api["url_s"], "Copy raw link": api["url_i"], "Copy download link": api["url_d"],
        "Copy Markdown snippet": api["embed"]["markdown"], "Copy HTML snippet": api["embed"]["html"],
        "Copy BBCode snippet": api["embed"]["bbcode"],
    }
    for label, text in expected.items():
        card.get_by_role("button", name=label).click()
        assert page.evaluate("navigator.clipboard.readText()") == text, label
    # The same on the preview page.
    page.goto(api["url_p"])
    for key, text in (("short", api["url_s"]), ("markdown", api["embed"]["markdown"])):
        page.locator(f"button[data-copy-kind={key}]").click()
        assert page.evaluate("navigator.clipboard.readText()") == text


def test_delete_with_the_remembered_token(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("delete-me.txt", b"short-lived\n", "text/plain"))
    card = done_card(page, "delete-me.txt")
    api = card_of(ui_server, card.get_attribute("data-filehash"))
    # The preview page knows the token too (localStorage), and offers delete.
    page.goto(api["url_p"])
    page.locator("#delete-button").click()
    page.get_by_text("This file has been deleted").wait_for()
    assert page.request.get(api["url_i"]).status == 404
    # A second upload, deleted from its card on the upload page.
    page.goto("/")
    page.set_input_files("#file", file_payload("delete-two.txt", b"also short-lived\n", "text/plain"))
    card = done_card(page, "delete-two.txt")
    api = card_of(ui_server, card.get_attribute("data-filehash"))
    card.get_by_role("button", name="Delete delete-two.txt").click()
    page.get_by_text("Deleted delete-two.txt.").wait_for()
    assert page.request.get(api["url_i"]).status == 404


def test_private_option_and_resize_fields_are_sent(page, ui_server):
    page.goto("/")
    page.check("#opt-private")
    page.set_input_files("#file", file_payload("secret.txt", b"for my eyes\n", "text/plain"))
    card = done_card(page, "secret.txt")
    assert card.locator(".tag").text_content() == "unlisted"
    assert card_of(ui_server, card.get_attribute("data-filehash"))["private"] is True


def test_preview_image(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("picture.png", png_bytes(320, 200), "image/png"))
    api = card_of(ui_server, done_card(page, "picture.png").get_attribute("data-filehash"))
    page.goto(api["url_p"])
    image = page.locator(".viewer img")
    page.wait_for_function("() => document.querySelector('.viewer img').naturalWidth === 320")
    if api.get("width"):  # measured by the images feature when it is there
        assert page.locator("dd.dimensions").inner_text() == "320 \u00d7 200 px"
    # Uploaded time is shown in the viewer's own locale, not as the raw ISO string.
    shown = page.locator("time.local-time").first.inner_text()
    assert shown and "Z" not in shown and "UTC" not in shown
    assert page.locator(".qr svg").count() == 1
    image.click()
    page.wait_for_url(api["url_i"])


def test_preview_text_is_escaped_and_cut(page, ui_server):
    body = ("<script>window.__owned = 1</script>\n" + "line of text\n" * 8000).encode()
    page.goto("/")
    page.set_input_files("#file", file_payload("big-log.txt", body, "text/plain"))
    api = card_of(ui_server, done_card(page, "big-log.txt").get_attribute("data-filehash"))
    page.goto(api["url_p"])
    shown = page.locator("pre.code").inner_text()
    assert shown.startswith("<script>window.__owned = 1</script>")
    assert len(shown) < len(body)
    assert page.evaluate("window.__owned") is None
    assert page.locator(".truncated a").get_attribute("href") == api["url_i"]


def test_preview_pdf(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("paper.pdf", PDF_BYTES, "application/pdf"))
    api = card_of(ui_server, done_card(page, "paper.pdf").get_attribute("data-filehash"))
    page.goto(api["url_p"])
    embed = page.locator("embed.pdf")
    assert embed.get_attribute("src") == api["url_i"]
    assert embed.get_attribute("type") == "application/pdf"
    assert page.request.get(api["url_i"]).headers["content-type"] == "application/pdf"


def test_preview_video_plays(page, ui_server):
    page.goto("/")
    # A real WebM made by the browser itself (canvas -> MediaRecorder), fed to the file input.
    page.evaluate("""() => new Promise((resolve, reject) => {
        const canvas = document.createElement("canvas");
        canvas.width = 64; canvas.height = 48;
        const g = canvas.getContext("2d");
        const stream = canvas.captureStream(15);
        const recorder = new MediaRecorder(stream, {mimeType: "video/webm"});
        const chunks = [];
        let frame = 0;
        const paint = () => { g.fillStyle = `hsl(${frame++ * 30} 80% 50%)`; g.fillRect(0, 0, 64, 48); };
        const timer = setInterval(paint, 50);
        recorder.ondataavailable = (e) => chunks.push(e.data);
        recorder.onerror = reject;
        recorder.onstop = () => {
            clearInterval(timer);
            const dt = new DataTransfer();
            dt.items.add(new File(chunks, "clip.webm", {type: "video/webm"}));
            const input = document.getElementById("file");
            input.files = dt.files;
            input.dispatchEvent(new Event("change"));
            resolve();
        };
        recorder.start();
        setTimeout(() => recorder.stop(), 600);
    })""")
    api = card_of(ui_server, done_card(page, "clip.webm").get_attribute("data-filehash"))
    assert api["type"] == "video"
    page.goto(api["url_p"])
    page.wait_for_function("() => { const v = document.querySelector('.viewer video'); return v && v.readyState >= 1 }")
    assert page.evaluate("document.querySelector('.viewer video').videoWidth") == 64


def test_unknown_file_gets_the_site_404_page(page):
    response = page.goto("/p/0123456789abcdef.png")
    assert response.status == 404
    assert "script-src http://127.0.0.1:" in response.headers["content-security-policy"]
    assert page.locator("h1").inner_text() == "Nothing here"
    assert page.locator("header.site .brand").is_visible()
    assert page.get_by_role("link", name="Upload a file").is_visible()


def test_without_javascript_the_form_lands_on_the_preview_page(browser, ui_server):
    context = new_context(browser, ui_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        assert page.locator("button.nojs-submit").is_visible()
        page.set_input_files("#file", file_payload("plain form.txt", b"no script needed\n", "text/plain"))
        page.locator("button.nojs-submit").click()
        page.wait_for_url(re.compile(r"/p/[0-9a-f]{16}\.txt$"))
        assert page.locator("h1.filename").inner_text() == "plain form.txt"
        assert "no script needed" in page.locator("pre.code").inner_text()
    finally:
        context.close()


def test_without_javascript_a_refusal_is_a_page_not_json(browser, ui_server):
    context = new_context(browser, ui_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        page.set_input_files("#file", file_payload("nope.gif", gif_bytes(), "image/gif"))
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.locator("button.nojs-submit").click()
        assert answer.value.status == 415
        assert page.locator(".error-message").text_content() == "files of type image/gif are not accepted here"
        assert page.get_by_role("link", name="Upload a file").is_visible()
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_width_and_color_schemes(browser, ui_server, scheme):
    context = new_context(browser, ui_server, viewport={"width": 360, "height": 740}, color_scheme=scheme,
                          is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto("/")
        page.set_input_files("#file", file_payload("phone-" + scheme + ".png", png_bytes(), "image/png"))
        api = card_of(ui_server, done_card(page, "phone-" + scheme + ".png").get_attribute("data-filehash"))
        for url in ("/", api["url_p"]):
            page.goto(url)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, url
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        red = int(re.findall(r"\d+", background)[0])
        assert (red < 60) if scheme == "dark" else (red > 200), background
    finally:
        context.close()


def test_keep_for_option_sets_the_expiry(page, ui_server):
    page.goto("/")
    page.select_option("#opt-expires", "1h")
    page.set_input_files("#file", file_payload("one-hour.txt", b"an hour\n", "text/plain"))
    card = done_card(page, "one-hour.txt")
    api = card_of(ui_server, card.get_attribute("data-filehash"))
    assert api["expires_at"] is not None
    assert "expires" in card.locator(".item-meta").inner_text()
    uploaded = datetime.fromisoformat(api["uploaded_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(api["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=55) < expires - uploaded < timedelta(minutes=65)
    page.goto(api["url_p"])
    assert page.locator("dt", has_text="Expires").count() == 1


def test_card_qr_code_for_the_short_link(page, ui_server):
    page.goto("/")
    page.set_input_files("#file", file_payload("qr.txt", b"scan me\n", "text/plain"))
    card = done_card(page, "qr.txt")
    image = card.locator("img.qr-image")
    assert image.get_attribute("src") is None  # not fetched until asked for
    card.get_by_label("QR code for qr.txt").click()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    response = page.request.get(image.get_attribute("src"))
    assert response.headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.body().startswith(b"<svg") or b"<svg" in response.body()[:200]
