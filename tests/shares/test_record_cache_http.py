"""The read-only routes keep a file's record briefly (core/record_cache.py); what this process changes
through its own API must still show on the very next request, on every route that reads the record."""

from __future__ import annotations

import pytest

from tests.conftest import path_of

pytestmark = pytest.mark.gen_test


async def warm(fetch, card) -> None:
    """Every cached route reads the record once (each answer 200 or 302: the record is in the cache)."""
    for url in (card["url_i"], card["url_d"], card["url_p"], card["url_api"], card["url_s"]):
        assert (await fetch(path_of(url))).code in (200, 302), url


async def test_a_password_set_after_downloads_is_asked_at_once(api, fetch, put_file, services):
    _, card = await put_file(b"open, then locked", "locked.txt")
    await warm(fetch, card)
    assert services.records.hits or services.records.misses  # the cache took part
    status, _, _ = await api("PATCH", f"/api/v1/files/{card['filehash']}", {"password": "correct horse"},
                             headers={"X-Manage-Token": card["manage_token"]})
    assert status == 200
    assert (await fetch(path_of(card["url_i"]))).code == 401
    assert (await fetch(path_of(card["url_d"]))).code == 401


async def test_rename_and_visibility_changes_show_at_once(api, fetch, put_file):
    _, card = await put_file(b"renamed while hot", "before.txt")
    await warm(fetch, card)
    _, changed, _ = await api("PATCH", f"/api/v1/files/{card['filehash']}", {"filename": "after.txt", "private": True},
                              headers={"X-Manage-Token": card["manage_token"]})
    assert 'filename="after.txt"' in (await fetch(path_of(card["url_d"]))).headers["Content-Disposition"]
    assert (await fetch(path_of(card["url_i"]))).headers.get("X-Robots-Tag") == "noindex, nofollow"
    assert (await fetch(path_of(card["url_s"]))).code == 404  # a private file gets a new short code
    assert (await fetch(path_of(changed["url_s"]))).code == 302


async def test_a_delete_after_downloads_is_gone_everywhere_at_once(api, fetch, put_file):
    _, card = await put_file(b"deleted while hot", "gone.txt")
    await warm(fetch, card)
    status, _, _ = await api("DELETE", f"/api/v1/files/{card['filehash']}",
                             headers={"X-Delete-Token": card["delete_token"]})
    assert status == 200
    for url in (card["url_i"], card["url_d"], card["url_p"], card["url_api"], card["url_s"]):
        assert (await fetch(path_of(url))).code == 404, url
