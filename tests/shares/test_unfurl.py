"""The download gate asks the previews' unfurler check (``tornado_paste.previews.unfurl.is_unfurler``,
handed in by services): chat and social previewers are unfurlers, browsers and command-line clients
are people. The check itself is tested in tests/previews/test_unfurl.py."""

from __future__ import annotations

import pytest

from tornado_paste.previews.unfurl import is_unfurler
from tornado_paste.shares.files import FileShares

BOTS = [
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0",
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


def test_services_hand_the_previews_check_to_the_gate(services):
    assert services.shares.files.unfurler is is_unfurler


@pytest.mark.parametrize("agent", BOTS)
def test_unfurlers(services, agent):
    assert services.shares.files.is_unfurler(agent, "GET", {})


@pytest.mark.parametrize("agent", PEOPLE)
def test_people(services, agent):
    assert not services.shares.files.is_unfurler(agent, "GET", {})


def test_prefetch_is_not_a_person_yet(services):
    assert services.shares.files.is_unfurler(PEOPLE[0], "GET", {"Sec-Purpose": "prefetch;prerender"})


def test_without_a_check_nobody_is_an_unfurler():
    gate = FileShares(None, None, None, None, None)  # type: ignore[arg-type]
    assert not gate.is_unfurler(BOTS[0], "GET", {})
