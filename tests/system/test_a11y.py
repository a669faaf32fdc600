"""Accessibility in a real Chromium: axe-core (npm, pinned in the Makefile, injected through Playwright)
over every page in light and dark mode must find nothing; phone-sized pages keep link codes whole and
every touch target at least 44 x 44 px on a coarse pointer.

axe's rules: WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's best practices (tests/uikit.AXE_TAGS).
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.uikit import (
    AXE_TAGS,
    PDF_BYTES,
    RECORD_WEBM,
    api_upload,
    axe_source,
    axe_violations,
    card_of,
    done_card,
    expire_file,
    file_payload,
    gif_bytes,
    new_context,
    png_bytes,
    wav_bytes,
)

pytestmark = pytest.mark.system

SCHEMES = ["light", "dark"]


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


@pytest.fixture
def scheme_page(browser, ui_server, problems, request) -> Iterator[Any]:
    """A page in the colour scheme the test is parametrized with (``scheme``)."""
    context = new_context(browser, ui_server, viewport={"width": 1280, "height": 900},
                          color_scheme=request.node.callspec.params["scheme"])
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.url)
    yield problems.watch(context.new_page())
    context.close()


def assert_no_violations(page: Any, axe: str, what: str) -> None:
    violations = axe_violations(page, axe)
    assert not violations, f"{what}:\n" + "\n".join(violations)


# Runs first: the server has no files yet.
@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_upload_page_empty(scheme_page, axe, scheme):
    scheme_page.goto("/")
    scheme_page.wait_for_function("() => document.getElementById('feed-state').dataset.state !== 'offline'")
    assert_no_violations(scheme_page, axe, f"empty upload page ({scheme})")


@pytest.fixture(scope="module")
def previews(browser, ui_server) -> dict[str, dict[str, Any]]:
    """One stored file of each preview type, and an expired one (for the 410 page)."""
    cards = {
        "image": api_upload(ui_server, "photo.png", png_bytes(320, 200)),
        "text": api_upload(ui_server, "notes.txt", b"def main():\n    return 42\n" * 400),
        "pdf": api_upload(ui_server, "paper.pdf", PDF_BYTES),
        "audio": api_upload(ui_server, "tone.wav", wav_bytes()),
        "other": api_upload(ui_server, "blob.bin", os.urandom(2048)),
        "unlisted": api_upload(ui_server, "unlisted.txt", b"only with the link\n", {"private": "1"}),
        "expired": api_upload(ui_server, "gone.txt", b"short-lived\n", {"expires": "1h"}),
    }
    context = new_context(browser, ui_server)
    try:
        page = context.new_page()
        page.goto("/")
        page.evaluate(RECORD_WEBM, "clip.webm")
        cards["video"] = card_of(ui_server, done_card(page, "clip.webm").get_attribute("data-filehash"))
    finally:
        context.close()
    assert cards["audio"]["type"] == "audio" and cards["video"]["type"] == "video"
    assert cards["other"]["type"] not in ("image", "text", "pdf", "audio", "video")
    expire_file(ui_server, cards["expired"]["filehash"])
    return cards


@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_upload_page_with_cards(scheme_page, axe, scheme, previews, ui_server):
    page = scheme_page
    page.goto("/")
    page.wait_for_function("() => document.querySelectorAll('#feed .feed-item').length > 0")
    existing = previews["image"]
    page.set_input_files("#file", [
        file_payload(f"a11y-{scheme}.txt", f"hello {scheme}\n".encode(), "text/plain"),
        file_payload(f"a11y-{scheme}.png", png_bytes(), "image/png"),
        file_payload(f"a11y-{scheme}.pdf", PDF_BYTES + scheme.encode(), "application/pdf"),
        file_payload("again.png", urllib.request.urlopen(existing["url_i"]).read(), "image/png"),
        file_payload(f"refused-{scheme}.gif", gif_bytes(), "image/gif"),
    ])
    for name in (f"a11y-{scheme}.txt", f"a11y-{scheme}.png", f"a11y-{scheme}.pdf", "photo.png"):
        done_card(page, name)
    page.locator("#uploads .item.failed").wait_for()
    page.locator("#batch").wait_for()
    # A card with its QR code shown, and a pasted text waiting for a yes.
    page.locator("#uploads .item.done .qr-toggle").first.click()
    page.evaluate("navigator.clipboard.writeText('pasted words')")
    page.locator("body").press("Control+v")
    page.locator("#uploads .item.pending").wait_for()
    page.wait_for_function("() => [...document.images].every((img) => img.complete)")
    page.wait_for_timeout(300)  # cards' appear animation (opacity) done
    assert_no_violations(page, axe, f"upload page with cards ({scheme})")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("kind", ["image", "video", "audio", "pdf", "text", "other", "unlisted"])
def test_axe_preview_pages(scheme_page, axe, scheme, kind, previews):
    page = scheme_page
    page.goto(previews[kind]["url_p"])
    page.wait_for_function("() => document.getElementById('file-page').dataset.feed !== undefined")
    page.wait_for_function("() => [...document.images].every((img) => img.complete)")
    assert_no_violations(page, axe, f"{kind} preview page ({scheme})")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_error_pages(scheme_page, axe, scheme, previews):
    page = scheme_page
    for path, status in (("/p/0123456789abcdef.png", 404), ("/no/such/page", 404),
                         (previews["expired"]["url_p"], 410), (previews["expired"]["url_i"], 410)):
        response = page.goto(path)
        assert response.status == status, path
        assert_no_violations(page, axe, f"{status} page for {path} ({scheme})")


def test_axe_api_reference_page_around_the_viewer(scheme_page_light, axe):
    """Our part of /api/v1/docs is clean; the vendored Swagger UI inside it is checked for rendering
    (under the page's CSP) but its own markup is Swagger's (docs/ui.md lists what axe says about it)."""
    page = scheme_page_light
    page.goto("/api/v1/docs")
    if page.locator("#swagger-ui").count() == 0:
        pytest.skip("Swagger UI is not vendored (make vendor-swagger-ui)")
    page.locator("#swagger-ui .opblock").first.wait_for()
    assert page.locator("#swagger-ui .opblock").count() >= 20
    page.evaluate(axe)
    violations = page.evaluate("""async (tags) => (await axe.run({exclude: [["#swagger-ui"]]},
        {runOnly: {type: "tag", values: tags}})).violations.map((v) => v.id)""", AXE_TAGS)
    assert violations == []


@pytest.fixture
def scheme_page_light(browser, ui_server, problems) -> Iterator[Any]:
    context = new_context(browser, ui_server, viewport={"width": 1280, "height": 900})
    yield problems.watch(context.new_page())
    context.close()


# -- phone width, coarse pointer ------------------------------------------------------------------
PHONE = {"width": 375, "height": 740}

# Every visible control, with the box a finger can hit: a checkbox's is its <label>'s. Links inside a
# sentence or a code listing are exempt (WCAG 2.5.5's "inline" exception), so is the skip link until
# it is focused.
TARGETS_JS = """() => {
    const out = [];
    const visible = (node) => { const r = node.getBoundingClientRect(); const s = getComputedStyle(node);
        return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && r.right > 0 && r.left < innerWidth; };
    for (const node of document.querySelectorAll(
            "a[href], button, input:not([type=hidden]), select, textarea, [role=button], [tabindex='0']")) {
        if (!visible(node) || node.classList.contains("skip-link")) continue;
        if (node.closest("#swagger-ui")) continue;
        // A code listing's line-number anchors are part of a block of text (WCAG 2.5.5's inline case).
        if (node.tagName === "A" && node.closest("pre")) continue;
        const inSentence = [...node.parentElement.childNodes]
            .some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
        if (node.tagName === "A" && inSentence && !node.classList.contains("btn")) continue;
        const box = (node.type === "checkbox" || node.type === "radio") && node.closest("label")
            ? node.closest("label") : node;
        const r = box.getBoundingClientRect();
        out.push({what: (node.id ? "#" + node.id : node.tagName.toLowerCase() + "." + [...node.classList].join("."))
                        + " " + (node.getAttribute("aria-label") || node.textContent.trim()).slice(0, 40),
                  width: r.width, height: r.height});
    }
    return out;
}"""

# Each link's distinguishing end (/s/<code>, /p/<filehash>) must sit on one line, inside its box.
CODES_JS = """() => [...document.querySelectorAll(".link-text .u-path")].filter((n) => n.getClientRects().length)
    .map((node) => {
        const rects = [...node.getClientRects()];
        const box = node.closest(".link-text").getBoundingClientRect();
        let clip = node.parentElement, clipped = false;
        while (clip) {
            const s = getComputedStyle(clip);
            if (s.overflowX !== "visible") {
                const c = clip.getBoundingClientRect();
                clipped = clipped || rects.some((r) => r.right > c.right + 0.5 || r.left < c.left - 0.5);
            }
            clip = clip.parentElement;
        }
        return {text: node.textContent, lines: new Set(rects.map((r) => Math.round(r.top))).size,
                right: Math.max(...rects.map((r) => r.right)), boxRight: box.right, clipped};
    })"""


def check_phone_page(page: Any, what: str, shot: Any) -> None:
    page.screenshot(path=str(shot), full_page=True, animations="disabled")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.width == PHONE["width"], (what, image.size)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], what
    small = [t for t in page.evaluate(TARGETS_JS) if t["width"] < 43.5 or t["height"] < 43.5]
    assert not small, f"{what}: targets under 44 px on a coarse pointer: {small}"
    codes = page.evaluate(CODES_JS)
    cut = [c for c in codes if c["lines"] != 1 or c["clipped"] or c["right"] > c["boxRight"] + 0.5]
    assert not cut, f"{what}: link codes cut or wrapped: {cut}"
    return codes


@pytest.mark.parametrize("scheme", SCHEMES)
def test_phone_width_keeps_codes_whole_and_targets_big(browser, ui_server, problems, previews, tmp_path, scheme):
    context = new_context(browser, ui_server, viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme,
                          device_scale_factor=1)
    try:
        page = problems.watch(context.new_page())
        assert page.evaluate("matchMedia('(pointer: coarse)').matches")
        page.goto("/")
        page.set_input_files("#file", [
            file_payload(f"phone-{scheme}-1.txt", f"one {scheme}\n".encode(), "text/plain"),
            file_payload(f"phone-{scheme}-2.png", png_bytes(), "image/png"),
        ])
        done_card(page, f"phone-{scheme}-1.txt")
        done_card(page, f"phone-{scheme}-2.png")
        page.locator("#uploads .item.done .qr-toggle").first.tap()
        page.wait_for_function("() => document.querySelectorAll('#feed .feed-item').length > 0")
        codes = check_phone_page(page, "upload page", tmp_path / f"phone-upload-{scheme}.png")
        assert len([c for c in codes if "/s/" in c["text"]]) >= 2  # each card's short link was checked
        for kind in ("image", "text"):
            page.goto(previews[kind]["url_p"])
            codes = check_phone_page(page, f"{kind} preview", tmp_path / f"phone-{kind}-{scheme}.png")
            assert {c["text"].split("/")[1] for c in codes} >= {"s", "p", "i", "d"}
        page.goto("/p/0123456789abcdef.png")
        check_phone_page(page, "404 page", tmp_path / f"phone-404-{scheme}.png")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_delete_page(scheme_page, axe, scheme, ui_server):
    card = api_upload(ui_server, f"to-delete-{scheme}.txt", os.urandom(16).hex().encode())
    page = scheme_page
    page.goto(card["url_delete"])
    page.wait_for_load_state("load")
    assert page.locator("form").count() >= 1
    assert_no_violations(page, axe, f"delete page ({scheme})")


def _api_json(server: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    import json

    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_shares_pages(scheme_page, axe, scheme, ui_server):
    """The shares pages (docs/shares.md): a collection's gallery, its manage page and a file's, an
    upload-request link's page, the unlock page and a limited file's preview."""
    one = api_upload(ui_server, f"shared-{scheme}.png", png_bytes())
    limited = api_upload(ui_server, f"limited-{scheme}.txt", os.urandom(8).hex().encode(), {"max_downloads": "2"})
    locked = api_upload(ui_server, f"locked-{scheme}.txt", os.urandom(8).hex().encode(), {"password": "pw"})
    coll = _api_json(ui_server, "/api/v1/collections", {"title": f"Album {scheme}", "private": False,
                                                        "files": [one["filehash"]], "request": {"max_files": 3}})
    page = scheme_page
    for what, url, ready in (
            ("collection page", coll["url"], "#collection-files .gallery-item"),
            ("collection manage page", coll["url_manage"], "#mc-form"),
            ("file manage page", one["url_manage"], "#manage-form"),
            ("upload-request page", coll["url_upload"], "form"),
            ("unlock page", locked["url_p"], "form"),
            ("limited preview page", limited["url_p"], ".limited-note")):
        page.goto(url)
        page.locator(ready).first.wait_for()
        page.wait_for_function("() => [...document.images].every((img) => img.complete)")
        page.wait_for_timeout(300)  # appear animations done
        assert_no_violations(page, axe, f"{what} ({scheme})")
