"""The stand-in unfurler check (until tornado_paste/previews/ ships the shared one): chat and social
previewers are unfurlers; browsers and command-line clients are people."""

from __future__ import annotations

import pytest

from tornado_paste.shares.unfurl import is_unfurler

BOTS = [
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
]
PEOPLE = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.0.0",
    "curl/8.5.0",
    "Wget/1.21.4",
    None,
]


@pytest.mark.parametrize("agent", BOTS)
def test_unfurlers(agent):
    assert is_unfurler(agent, "GET", {})


@pytest.mark.parametrize("agent", PEOPLE)
def test_people(agent):
    assert not is_unfurler(agent, "GET", {})


def test_prefetch_is_not_a_person_yet():
    assert is_unfurler(PEOPLE[0], "GET", {"Sec-Purpose": "prefetch;prerender"})
