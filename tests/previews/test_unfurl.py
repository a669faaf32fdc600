"""``is_unfurler`` and what unfurls say (pure: OpenGraph/Twitter tags, oEmbed, descriptions)."""

from __future__ import annotations

import pytest

from tornado_paste.previews.unfurl import describe, duration_text, is_unfurler, meta_tags, oembed

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
BOTS = [
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack-ImgProxy (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Twitterbot/1.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage
    "Mastodon/4.3.0 (http.rb/5.2.0; +https://mastodon.social/)",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0 A",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
    "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
    "Iframely/1.3.1 (+https://iframely.com/docs/about)",
    "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)",
]


@pytest.mark.parametrize("agent", BOTS)
def test_known_bots_are_unfurlers(agent):
    assert is_unfurler(agent, "GET", {})


@pytest.mark.parametrize("agent", [BROWSER, "curl/8.5.0", "Wget/1.21", "", None,
                                   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"])
def test_people_are_not(agent):
    assert not is_unfurler(agent, "GET", {})


def test_head_and_prefetch_are_unfurlers_whoever_asks():
    assert is_unfurler(BROWSER, "HEAD", {})
    assert is_unfurler(BROWSER, "head", None)
    assert is_unfurler(BROWSER, "GET", {"Purpose": "prefetch"})
    assert is_unfurler(BROWSER, "GET", {"sec-purpose": "prefetch;prerender"})
    assert is_unfurler(BROWSER, "GET", {"X-Purpose": "preview"}) is False
    assert not is_unfurler(BROWSER, "POST", {"Sec-Purpose": ""})


def test_the_agent_may_come_from_the_headers():
    assert is_unfurler(None, "GET", {"User-Agent": "Twitterbot/1.0"})
    assert not is_unfurler(None, "GET", {"User-Agent": BROWSER})


def card(**overrides):
    base = {"filename": "clip.mp4", "size": 1536, "size_human": "1.5 KiB", "mimetype": "video/mp4", "type": "video",
            "private": False, "url_p": "http://h/p/a.mp4", "url_i": "http://h/i/a.mp4", "width": 640, "height": 360,
            "media": {"duration": 75.4, "video_codec": "h264", "audio_codec": "aac"}}
    base.update(overrides)
    return base


POSTER = {"url_i": "http://h/i/b.jpg", "mimetype": "image/jpeg", "width": 640, "height": 360}


def test_durations_and_descriptions():
    assert duration_text(75.4) == "1:15"
    assert duration_text(3725) == "1:02:05"
    assert duration_text(None) is None
    assert describe(card()) == "1.5 KiB · video/mp4 · 1:15 · 640 \u00d7 360 · h264/aac"
    pdf = card(type="pdf", mimetype="application/pdf", media={"pages": 1}, width=None, height=None)
    assert describe(pdf) == "1.5 KiB · application/pdf · 1 page"


def test_video_tags_name_the_poster_and_the_video():
    tags = {name: content for _attr, name, content in meta_tags(card(), POSTER)}
    assert tags["og:type"] == "video.other"
    assert tags["og:image"] == POSTER["url_i"] and tags["og:image:width"] == "640"
    assert tags["og:video"] == "http://h/i/a.mp4" and tags["og:video:type"] == "video/mp4"
    assert tags["twitter:card"] == "summary_large_image" and tags["twitter:image"] == POSTER["url_i"]


def test_an_image_is_its_own_og_image_but_svg_is_not():
    image = card(type="image", mimetype="image/png", url_i="http://h/i/c.png", media=None)
    assert {n: c for _a, n, c in meta_tags(image, None)}["og:image"] == "http://h/i/c.png"
    svg = card(type="image", mimetype="image/svg+xml", media=None)
    tags = {n: c for _a, n, c in meta_tags(svg, None)}
    assert "og:image" not in tags and tags["twitter:card"] == "summary"


def test_private_files_unfurl_as_a_generic_card():
    tags = meta_tags(card(private=True), POSTER)
    text = " ".join(content for _a, _n, content in tags)
    assert "clip.mp4" not in text and "1.5 KiB" not in text and POSTER["url_i"] not in text
    assert not any(name.startswith(("og:image", "og:video", "twitter:image")) for _a, name, _c in tags)
    assert oembed(card(private=True), "http://h", POSTER) == {
        "version": "1.0", "provider_name": "tornado-paste", "provider_url": "http://h/", "cache_age": 300,
        "type": "link", "title": "A private file"}


def test_oembed_types():
    video = oembed(card(), "http://h", POSTER, max_width=320)
    assert video["type"] == "video" and (video["width"], video["height"]) == (320, 180)
    assert 'poster="http://h/i/b.jpg"' in video["html"] and video["thumbnail_url"] == POSTER["url_i"]
    photo = oembed(card(type="image", mimetype="image/jpeg", media=None), "http://h", None)
    assert photo["type"] == "photo" and photo["url"] == "http://h/i/a.mp4" and "thumbnail_url" not in photo
    link = oembed(card(type="text", mimetype="text/plain", media=None, width=None, height=None), "http://h", None)
    assert link["type"] == "link" and link["title"] == "clip.mp4"
