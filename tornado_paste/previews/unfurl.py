"""Link unfurls: who is an unfurler, and what an unfurler is told (OpenGraph, Twitter card, oEmbed).

``is_unfurler`` is the one test other features call before counting a download or burning a
burn-after-read file: a chat app or social site fetching a link to show its preview is not a person
opening the file. Pure: no I/O, no HTTP objects (the headers are any mapping).

A private file unfurls as a generic card: no name, no size, no image.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from typing import Any

from tornado_paste.core.records import human_size

# User-agent tokens of link-preview fetchers (chat apps, social sites, search cards). Matched as
# case-insensitive substrings; browsers never send these.
UNFURLER_AGENTS = (
    "slackbot", "slack-imgproxy", "discordbot", "twitterbot", "facebookexternalhit", "facebookcatalog",
    "meta-externalagent", "mastodon", "pleroma", "akkoma", "misskey", "telegrambot", "whatsapp", "linkedinbot",
    "skypeuripreview", "microsoftpreview", "embedly", "iframely", "redditbot", "pinterestbot", "vkshare",
    "applebot", "google-pagerenderer", "bingpreview", "snapchat", "viber", "kakaotalk-scrap", "zulip",
    "mattermost", "rocket.chat", "cardyb", "bitlybot", "quora link preview", "xing-contenttabreceiver",
)
_AGENT_RE = re.compile("|".join(re.escape(token) for token in UNFURLER_AGENTS), re.IGNORECASE)
PREFETCH_HEADERS = ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")
SITE_NAME = "tornado-paste"
# Types an unfurler can show as og:image (never SVG: it is served as an attachment here).
UNFURL_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def _header(headers: Mapping[str, str] | None, name: str) -> str:
    if not headers:
        return ""
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        # A plain dict is case-sensitive; HTTP header mappings (Tornado's) answer any case already, and
        # scanning every header of every download for the four names below was a visible cost.
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value or ""


@functools.lru_cache(maxsize=1024)
def _is_unfurler_agent(agent: str) -> bool:
    """The agent regex, once per distinct User-Agent (a handful of agents make most requests)."""
    return _AGENT_RE.search(agent) is not None


def is_unfurler(user_agent: str | None, method: str | None, headers: Mapping[str, str] | None = None) -> bool:
    """True for a link-preview fetch: a known bot agent, a ``HEAD``, or a prefetch (``Purpose: prefetch``,
    ``Sec-Purpose: prefetch``/``prefetch;prerender``). Such a request must not count as a download."""
    if (method or "").upper() == "HEAD":
        return True
    for name in PREFETCH_HEADERS:
        if "prefetch" in _header(headers, name).lower():
            return True
    agent = user_agent if user_agent is not None else _header(headers, "User-Agent")
    if not agent:
        return False
    if len(agent) > 512:  # not kept: a hostile agent of 64 KiB must not pin memory in the cache
        return _AGENT_RE.search(agent) is not None
    return _is_unfurler_agent(agent)


def duration_text(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe(card: dict[str, Any]) -> str:
    """One line: size, type and what the previews read (duration, dimensions, pages)."""
    media = card.get("media") or {}
    parts = [card["size_human"] if "size_human" in card else human_size(card["size"]), card["mimetype"]]
    if media.get("duration") is not None:
        parts.append(duration_text(media["duration"]) or "")
    if card.get("width") and card.get("height"):
        parts.append(f"{card['width']} \u00d7 {card['height']}")
    if media.get("pages"):
        parts.append(f"{media['pages']} page" + ("s" if media["pages"] != 1 else ""))
    codecs = "/".join(c for c in (media.get("video_codec"), media.get("audio_codec")) if c)
    if codecs:
        parts.append(codecs)
    return " · ".join(p for p in parts if p)


def guarded(card: dict[str, Any]) -> bool:
    """A password or a download limit stands before the bytes (shares): an unfurl embeds none of them, or
    every reader of a chat would use up a download (or meet a 401)."""
    return bool(card.get("password")) or card.get("max_downloads") is not None


def unfurl_image(card: dict[str, Any], poster: dict[str, Any] | None) -> dict[str, Any] | None:
    """The picture an unfurl shows: the image itself, else the poster/thumbnail/cover (never of a private
    or guarded file)."""
    if card.get("private") or guarded(card):
        return None
    if card["type"] == "image" and card["mimetype"] in UNFURL_IMAGE_TYPES:
        return {"url": card["url_i"], "type": card["mimetype"], "width": card.get("width"),
                "height": card.get("height")}
    if poster is not None:
        return {"url": poster["url_i"], "type": poster["mimetype"], "width": poster.get("width"),
                "height": poster.get("height")}
    return None


def meta_tags(card: dict[str, Any], poster: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(attribute, name, content) of every OpenGraph/Twitter meta tag of a preview page."""
    if card.get("private"):
        return [("property", "og:site_name", SITE_NAME), ("property", "og:type", "website"),
                ("property", "og:title", "A private file"),
                ("property", "og:description", f"Shared privately on {SITE_NAME}."),
                ("property", "og:url", card["url_p"]), ("name", "twitter:card", "summary"),
                ("name", "twitter:title", "A private file"), ("name", "robots", "noindex")]
    description = describe(card)
    tags = [("property", "og:site_name", SITE_NAME), ("property", "og:title", card["filename"]),
            ("property", "og:description", description), ("property", "og:url", card["url_p"]),
            ("property", "og:type", "video.other" if card["type"] == "video" else "website")]
    image = unfurl_image(card, poster)
    if image is not None:
        tags += [("property", "og:image", image["url"]), ("property", "og:image:type", image["type"]),
                 ("property", "og:image:alt", card["filename"])]
        if image.get("width") and image.get("height"):
            tags += [("property", "og:image:width", str(image["width"])),
                     ("property", "og:image:height", str(image["height"]))]
    if card["type"] == "video" and not guarded(card):
        tags += [("property", "og:video", card["url_i"]), ("property", "og:video:type", card["mimetype"])]
        if card.get("width") and card.get("height"):
            tags += [("property", "og:video:width", str(card["width"])),
                     ("property", "og:video:height", str(card["height"]))]
    if card["type"] == "audio" and not guarded(card):
        tags += [("property", "og:audio", card["url_i"]), ("property", "og:audio:type", card["mimetype"])]
    tags += [("name", "twitter:card", "summary_large_image" if image is not None else "summary"),
             ("name", "twitter:title", card["filename"]), ("name", "twitter:description", description)]
    if image is not None:
        tags += [("name", "twitter:image", image["url"]), ("name", "twitter:image:alt", card["filename"])]
    return tags


def oembed(card: dict[str, Any], base_url: str, poster: dict[str, Any] | None, max_width: int | None = None,
           max_height: int | None = None) -> dict[str, Any]:
    """The oEmbed 1.0 answer for a file's preview page: ``photo``, ``video`` or ``link``."""
    data: dict[str, Any] = {"version": "1.0", "provider_name": SITE_NAME, "provider_url": base_url + "/",
                            "cache_age": 300}
    if card.get("private"):
        return {**data, "type": "link", "title": "A private file"}
    data["title"] = card["filename"]
    image = unfurl_image(card, poster)
    if image is not None and image["url"] != card["url_i"]:
        data.update(thumbnail_url=image["url"], thumbnail_width=image.get("width"),
                    thumbnail_height=image.get("height"))
    width, height = _fit(card.get("width"), card.get("height"), max_width, max_height)
    if card["type"] == "image" and image is not None:
        return {**data, "type": "photo", "url": card["url_i"], "width": width, "height": height}
    if card["type"] == "video" and width and height and not guarded(card):
        poster_attr = f' poster="{html.escape(image["url"])}"' if image is not None else ""
        snippet = (f'<video controls preload="metadata" width="{width}" height="{height}"{poster_attr} '
                   f'src="{html.escape(card["url_i"])}"></video>')
        return {**data, "type": "video", "html": snippet, "width": width, "height": height}
    return {**data, "type": "link"}


def _fit(width: int | None, height: int | None, max_width: int | None,
         max_height: int | None) -> tuple[int | None, int | None]:
    if not width or not height:
        return width, height
    scale = min(1.0, (max_width or width) / width, (max_height or height) / height)
    return max(1, round(width * scale)), max(1, round(height * scale))
