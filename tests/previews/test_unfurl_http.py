"""Preview pages read as an unfurler reads them (extruct's OpenGraph parser, lxml for Twitter tags and
the oEmbed link): every image and video URL they name answers 200 with the right type; unfurlers never
count as downloads; private files unfurl as a generic card."""

from __future__ import annotations

import urllib.parse

import extruct
import lxml.html
import pytest

from tests import mediagen
from tests.conftest import body_of, path_of
from tests.previews.test_media_http import uploaded
from tests.uikit import png_bytes

SLACK = {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}
DISCORD = {"User-Agent": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"}


async def unfurl(fetch, url: str, headers=SLACK) -> tuple[dict[str, list[str]], dict[str, str], str | None]:
    """(OpenGraph properties, Twitter tags, oEmbed URL) of a page, as an unfurler parses it."""
    page = await fetch(path_of(url), headers=headers)
    assert page.code == 200, page.body
    text = page.body.decode()
    og: dict[str, list[str]] = {}
    for block in extruct.extract(text, base_url=url, syntaxes=["opengraph"], uniform=False)["opengraph"]:
        for name, value in block["properties"]:
            og.setdefault(name, []).append(value)
    tree = lxml.html.fromstring(text)
    twitter = {m.get("name"): m.get("content") for m in tree.xpath("//meta[starts-with(@name, 'twitter:')]")}
    links = tree.xpath("//link[@rel='alternate'][@type='application/json+oembed']/@href")
    return og, twitter, links[0] if links else None


async def answers(fetch, url: str, media_type: str) -> None:
    for method in ("HEAD", "GET"):
        response = await fetch(path_of(url), method=method, headers=DISCORD, follow_redirects=True)
        assert response.code == 200, (method, url, response.code)
        assert response.headers["Content-Type"].split(";")[0] == media_type, (url, response.headers["Content-Type"])


@pytest.mark.system
@pytest.mark.usefixtures("media_tools")
@pytest.mark.gen_test(timeout=120)
async def test_every_type_unfurls_with_urls_that_answer(upload, fetch):
    cases = [
        (await uploaded(upload, png_bytes(120, 80), "pic.png"), "image/png"),
        (await uploaded(upload, mediagen.video_mp4(), "clip.mp4"), "image/jpeg"),
        (await uploaded(upload, mediagen.pdf_pages(2), "doc.pdf"), "image/jpeg"),
        (await uploaded(upload, mediagen.audio_mp3(), "song.mp3"), "image/jpeg"),
    ]
    for card, image_type in cases:
        og, twitter, oembed_url = await unfurl(fetch, card["url_p"])
        assert og["og:title"] == [card["filename"]] and og["og:url"] == [card["url_p"]]
        assert card["mimetype"] in og["og:description"][0] and card["size_human"] in og["og:description"][0]
        assert og["og:image:type"] == [image_type]
        for url in og["og:image"] + [twitter["twitter:image"]]:
            await answers(fetch, url, image_type)
        assert twitter["twitter:card"] == "summary_large_image" and twitter["twitter:title"] == card["filename"]
        if card["type"] == "video":
            assert og["og:type"] == ["video.other"] and og["og:video:type"] == ["video/mp4"]
            assert og["og:video:width"] == ["320"] and og["og:image:width"] == ["320"]
            await answers(fetch, og["og:video"][0], "video/mp4")
        if card["type"] == "image":
            assert og["og:image"] == [card["url_i"]] and og["og:image:height"] == ["80"]
        # The advertised oEmbed answers for the same page.
        assert oembed_url is not None
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(oembed_url).query)
        assert query["url"] == [card["url_p"]]
        data = body_of(await fetch(path_of(oembed_url)))
        assert data["version"] == "1.0" and data["title"] == card["filename"]
        assert data["type"] == {"image": "photo", "video": "video"}.get(card["type"], "link")
        if "thumbnail_url" in data:
            await answers(fetch, data["thumbnail_url"], "image/jpeg")


@pytest.mark.gen_test
async def test_private_files_unfurl_with_no_content(upload, fetch):
    card = await uploaded(upload, png_bytes(50, 40), "holiday.png", private="1")
    og, twitter, _oembed = await unfurl(fetch, card["url_p"])
    assert og["og:title"] == ["A private file"] and "og:image" not in og
    assert "twitter:image" not in twitter
    page = (await fetch(path_of(card["url_p"]), headers=SLACK)).body.decode()
    assert "holiday" not in page and card["url_i"] not in page and card["sha256"] not in page
    # A person (the owner) still sees the file; its page tells unfurlers nothing either.
    own = (await fetch(path_of(card["url_p"]), headers=BROWSER)).body.decode()
    assert card["url_i"] in own
    og_own, _tw, _o = await unfurl(fetch, card["url_p"], headers=BROWSER)
    assert "og:image" not in og_own and og_own["og:title"] == ["A private file"]
    data = body_of(await fetch("/api/v1/oembed?url=" + urllib.parse.quote(card["url_p"])))
    assert data == {"version": "1.0", "provider_name": "tornado-paste", "provider_url": card["url_p"].split("/p/")[0]
                    + "/", "cache_age": 300, "type": "link", "title": "A private file"}


@pytest.mark.gen_test
async def test_oembed_refuses_other_urls(fetch, upload):
    assert (await fetch("/api/v1/oembed?url=" + urllib.parse.quote("https://elsewhere.example/p/x"))).code == 404
    assert (await fetch("/api/v1/oembed")).code == 404
    card = await uploaded(upload, b"words\n", "a.txt")
    assert (await fetch("/api/v1/oembed?format=xml&url=" + urllib.parse.quote(card["url_p"]))).code == 501
    gone = card["url_p"].replace(card["filehash"], "0123456789abcdef.txt")
    assert (await fetch("/api/v1/oembed?url=" + urllib.parse.quote(gone))).code == 404


@pytest.mark.gen_test
async def test_unfurlers_head_and_prefetch_never_count_as_downloads(upload, fetch, counted):
    card = await uploaded(upload, png_bytes(30, 20), "count.png")
    path = path_of(card["url_i"])
    for headers in (SLACK, DISCORD, {"User-Agent": "WhatsApp/2.23.20.0 A"}, {**BROWSER, "Purpose": "prefetch"},
                    {**BROWSER, "Sec-Purpose": "prefetch;prerender"}):
        assert (await fetch(path, headers=headers)).code == 200
    assert (await fetch(path, method="HEAD", headers=BROWSER)).code == 200
    assert (await fetch(path_of(card["url_d"]), headers={"User-Agent": "TelegramBot (like TwitterBot)"})).code == 200
    assert "download.raw.count" not in counted and "download.download.count" not in counted
    assert counted["download.unfurl.count"] == 7
    # A person's download counts.
    assert (await fetch(path, headers=BROWSER)).code == 200
    assert counted["download.raw.count"] == 1
