"""Previews of guarded files (a password or a download limit): no poster (a derivative is an unguarded
copy), no bytes in unfurls (OpenGraph, oEmbed), since every reader of a chat would fetch them."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.uikit import png_bytes

pytestmark = pytest.mark.gen_test

SLACK = {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "Accept": "text/html"}


async def test_posters_of_guarded_files_are_refused(fetch, put_file):
    _, limited = await put_file(b"%PDF-1.4 not really a pdf", "doc.pdf", "?max_downloads=3")
    answer = await fetch(f"/t/{limited['filehash']}", headers={"Accept": "application/json"})
    assert answer.code == 403 and json.loads(answer.body)["error"]["code"] == "guarded_file"
    _, locked = await put_file(b"%PDF-1.4 locked", "locked.pdf", headers={"X-Paste-Password": "pw"})
    assert (await fetch(f"/t/{locked['filehash']}", headers={"Accept": "application/json"})).code == 401


async def test_unfurls_of_a_limited_image_show_none_of_its_bytes(fetch, put_file):
    _, card = await put_file(png_bytes(), "pic.png", "?max_downloads=1")
    page = await fetch(urllib.parse.urlsplit(card["url_p"]).path, headers=SLACK)
    assert page.code == 200
    html = page.body.decode()
    assert 'property="og:title"' in html
    assert 'property="og:image"' not in html and 'name="twitter:image"' not in html
    assert card["embed"]["markdown"] == f"[pic.png]({card['url_s']})"  # linked, never inlined
    assert "[img]" not in card["embed"]["bbcode"] and "<img" not in card["embed"]["html"]
    query = urllib.parse.urlencode({"url": card["url_p"], "format": "json"})
    oembed = json.loads((await fetch(f"/api/v1/oembed?{query}", headers={"Accept": "application/json"})).body)
    assert oembed["type"] == "link" and "url" not in oembed and "thumbnail_url" not in oembed
    assert (await fetch(f"/i/{card['filehash']}")).code == 200  # the one download is still there


async def test_oembed_of_a_locked_file_asks_for_the_password(fetch, put_file):
    _, card = await put_file(png_bytes(), "secret.png", headers={"X-Paste-Password": "pw"})
    query = urllib.parse.urlencode({"url": card["url_p"], "format": "json"})
    answer = await fetch(f"/api/v1/oembed?{query}", headers={"Accept": "application/json"})
    assert answer.code == 401 and b"secret.png" not in answer.body
