"""Is this request a link unfurler (a chat app or social site fetching a preview) rather than a person?

Unfurlers must never use up a download of a limited file. ``tornado_paste/previews/`` will own the
shared ``is_unfurler(user_agent, method, headers)``; until then this small check stands behind the
same signature, so swapping it is one import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_BOTS = re.compile(
    r"slackbot|slack-imgproxy|discordbot|twitterbot|facebookexternalhit|facebot|linkedinbot|telegrambot|"
    r"whatsapp|skypeuripreview|mattermost|rocket\.chat|embedly|iframely|pinterest|redditbot|applebot|"
    r"googlebot|bingbot|bingpreview|yandex|duckduckbot|vkshare|w3c_validator|snapchat|viber|line/|"
    r"outlook|microsoft office|teams|zoom|signal|bot\b|crawler|spider|preview",
    re.IGNORECASE)


def is_unfurler(user_agent: str | None, method: str | None = None, headers: Mapping[str, str] | None = None) -> bool:
    agent = user_agent or ""
    if _BOTS.search(agent):
        return True
    # Browsers prefetching a link they only hover (Chrome's prerender) say so.
    purpose = (headers or {}).get("Purpose", "") or (headers or {}).get("Sec-Purpose", "")
    return "prefetch" in purpose.lower()
