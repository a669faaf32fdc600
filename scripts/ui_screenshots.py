"""Screenshots of the upload page (with cards and a live feed), a preview page and the upload page on a
phone, for the README and docs/ui.md.

    .venv/bin/python scripts/ui_screenshots.py [OUT_DIR]     # default: docs/

Starts a real server on a free loopback port with a temporary data dir, uploads a few generated
files, and drives Debian's Chromium (Playwright) through the pages.
"""

from __future__ import annotations

import io
import sys
import tempfile
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.helpers, and this checkout's run.py

from tests.helpers import ServerProcess, multipart_body  # noqa: E402
from tests.uikit import CHROMIUM_ARGS  # noqa: E402


def landscape(width: int, height: int, sky: tuple[int, int, int], sun: tuple[int, int, int]) -> bytes:
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(c * (1 - t) + 250 * t * 0.6) for c in sky))
    draw.ellipse((width * 0.6, height * 0.18, width * 0.82, height * 0.5), fill=sun)
    draw.polygon([(0, height), (width * 0.35, height * 0.45), (width * 0.7, height)], fill=(34, 52, 80))
    draw.polygon([(width * 0.4, height), (width * 0.75, height * 0.55), (width, height)], fill=(52, 76, 108))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()


def upload(base: str, name: str, data: bytes) -> None:
    body, ctype = multipart_body(files={"file": (name, data, "application/octet-stream")})
    request = urllib.request.Request(base + "/", data=body, method="POST",
                                     headers={"Content-Type": ctype, "Accept": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data").start()
        try:
            # Someone else's earlier uploads, for the feed.
            upload(server.url, "harbour-at-dawn.jpg", landscape(900, 600, (40, 90, 170), (255, 214, 120)))
            upload(server.url, "release-notes.md", b"# 2.0\n\n- faster uploads\n- live feed\n")
            upload(server.url, "lavender-field.jpg", landscape(800, 800, (120, 80, 160), (255, 240, 200)))
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                     args=CHROMIUM_ARGS)
                for scheme in ("light", "dark"):
                    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 860},
                                                  color_scheme=scheme, device_scale_factor=1)
                    page = context.new_page()
                    page.goto("/")
                    page.wait_for_function("() => document.getElementById('feed-state').dataset.state === 'live'")
                    files = [
                        {"name": f"sunset-{scheme}.jpg", "mimeType": "image/jpeg",
                         "buffer": landscape(1200, 800, (30, 70, 150) if scheme == "light" else (20, 30, 80),
                                             (255, 190, 90))},
                        {"name": "notes.py", "mimeType": "text/plain",
                         "buffer": f"def greet(name: str) -> str:\n    return f'hi {{name}}'  # {scheme}\n".encode()},
                        {"name": f"quarterly report ({scheme}).pdf", "mimeType": "application/pdf",
                         "buffer": b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages"
                                   b"/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n" + scheme.encode()},
                    ]
                    page.set_input_files("#file", files)
                    page.locator("#uploads .item.done").nth(2).wait_for()
                    page.wait_for_function("() => [...document.images].every((img) => img.complete)")
                    page.screenshot(path=str(out_dir / f"ui-upload-{scheme}.png"), animations="disabled")
                    preview = page.locator("#uploads .item.done a.item-name", has_text="sunset").get_attribute("href")
                    page.goto(preview)
                    page.wait_for_function("() => [...document.images].every((img) => img.complete)")
                    page.screenshot(path=str(out_dir / f"ui-preview-{scheme}.png"), full_page=True,
                                    animations="disabled")
                    context.close()
                # A phone (375 px, touch: 44 px targets) with two cards and a pasted text waiting for a yes.
                context = browser.new_context(base_url=server.url, viewport={"width": 375, "height": 812},
                                              is_mobile=True, has_touch=True, device_scale_factor=1)
                context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
                page = context.new_page()
                page.goto("/")
                page.set_input_files("#file", [
                    {"name": "boarding-pass.pdf", "mimeType": "application/pdf",
                     "buffer": b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages"
                               b"/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\nphone"},
                    {"name": "kitchen.jpg", "mimeType": "image/jpeg",
                     "buffer": landscape(800, 600, (60, 120, 90), (250, 230, 160))},
                ])
                page.locator("#uploads .item.done").nth(1).wait_for()
                page.evaluate("navigator.clipboard.writeText('meeting notes: ship the phone layout')")
                page.locator("body").press("Control+v")
                page.locator("#uploads .item.pending").wait_for()
                page.evaluate("window.scrollTo(0, 0)")
                page.wait_for_function("() => [...document.images].every((img) => img.complete)")
                page.wait_for_timeout(300)
                page.screenshot(path=str(out_dir / "ui-upload-phone.png"), full_page=True, animations="disabled")
                context.close()
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs")
