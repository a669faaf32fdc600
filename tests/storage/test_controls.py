"""FileControls on every backend: manage-token changes and the exact, atomic download count."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.storage.test_files import record
from tornado_paste.core.records import new_short_code, utcnow
from tornado_paste.storage.base import DuplicateContent


@pytest.mark.gen_test
async def test_update_changes_only_the_given_fields_and_round_trips(backend):
    saved = await backend.insert_file(record(1))
    later = utcnow() + timedelta(days=3)
    got = await backend.controls.update(saved.filehash, {"filename": "renamed é.txt", "private": True,
                                                         "expires_at": later, "password_hash": "$argon2id$x",
                                                         "max_downloads": 3, "crc32": 0xFFFFFFFF})
    assert (got.filename, got.private, got.expires_at, got.password_hash, got.max_downloads, got.crc32) == (
        "renamed é.txt", True, later, "$argon2id$x", 3, 0xFFFFFFFF)
    again = await backend.get_by_filehash(saved.filehash)
    assert again == got and again.downloads == 0 and again.size == saved.size
    cleared = await backend.controls.update(saved.filehash, {"password_hash": None, "max_downloads": None,
                                                             "expires_at": None})
    assert (cleared.password_hash, cleared.max_downloads, cleared.expires_at) == (None, None, None)
    assert await backend.controls.update("0" * 16 + ".txt", {"private": True}) is None
    with pytest.raises(ValueError):
        await backend.controls.update(saved.filehash, {"sha256": "f" * 64})


@pytest.mark.gen_test
async def test_the_expiry_index_sees_a_changed_expiry(backend):
    saved = await backend.insert_file(record(2))
    await backend.controls.update(saved.filehash, {"expires_at": utcnow() - timedelta(seconds=1)})
    assert [r.filehash for r in await backend.expiry.expired(utcnow(), 10)] == [saved.filehash]


@pytest.mark.gen_test
async def test_claim_download_counts_up_to_the_limit_and_no_further(backend):
    saved = await backend.insert_file(record(3))
    assert await backend.controls.claim_download(saved.filehash) is None  # no limit: nothing counted
    await backend.controls.update(saved.filehash, {"max_downloads": 2})
    assert await backend.controls.claim_download(saved.filehash) == 1
    assert await backend.controls.claim_download(saved.filehash) == 2
    assert await backend.controls.claim_download(saved.filehash) is None
    got = await backend.get_by_filehash(saved.filehash)
    assert got.downloads == 2 and got.exhausted
    await backend.controls.update(saved.filehash, {"max_downloads": 3})  # raising the limit reopens it
    assert await backend.controls.claim_download(saved.filehash) == 3
    assert await backend.controls.claim_download("0" * 16 + ".txt") is None


@pytest.mark.gen_test
async def test_concurrent_claims_never_pass_the_limit(backend):
    saved = await backend.insert_file(record(4))
    await backend.controls.update(saved.filehash, {"max_downloads": 5})
    results = await asyncio.gather(*(backend.controls.claim_download(saved.filehash) for _ in range(12)))
    assert sorted(r for r in results if r is not None) == [1, 2, 3, 4, 5]
    assert results.count(None) == 7


@pytest.mark.gen_test
async def test_visibility_changes_keep_one_public_original_per_content(backend):
    """A private file made public while another public file holds its bytes is refused, unchanged;
    a public original made private leaves the place to the next public upload (docs/security.md, 7)."""
    public = await backend.insert_file(record(5, sha="5" * 64))
    private = await backend.insert_file(record(6, private=True, sha="5" * 64))
    with pytest.raises(DuplicateContent):
        await backend.controls.update(private.filehash, {"private": False})
    assert (await backend.get_by_filehash(private.filehash)).private
    assert (await backend.get_public_original("5" * 64)).filehash == public.filehash
    code = new_short_code(True)
    hidden = await backend.controls.update(public.filehash, {"private": True, "short_code": code})
    assert hidden.private and hidden.short_code == code
    assert (await backend.get_by_short_code(code)).filehash == public.filehash
    assert await backend.get_public_original("5" * 64) is None
    shown = await backend.controls.update(private.filehash, {"private": False})
    assert not shown.private
    assert (await backend.get_public_original("5" * 64)).filehash == private.filehash
    with pytest.raises(DuplicateContent):  # a short code is unique across records
        await backend.controls.update(private.filehash, {"short_code": code})
