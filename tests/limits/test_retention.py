"""Retention: per-upload expiry, the size policy, 410 Gone, and a sweeper that is safe to run twice."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from settings import Settings
from tests.conftest import body_of, path_of
from tests.faults import blob_files, staging_files
from tornado_paste.core.records import FileRecord
from tornado_paste.limits.retention import (
    DAY,
    HOUR,
    BadExpiry,
    RetentionPolicy,
)
from tornado_paste.services import build_services

MiB = 1 << 20


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# -- the policy --------------------------------------------------------------------

def test_size_policy_bigger_files_live_shorter():
    policy = RetentionPolicy("policy", min_age=30 * DAY, max_age=365 * DAY, max_size=512 * MiB)
    lives = [policy.lifetime(size, None) for size in (0, 1 * MiB, 64 * MiB, 256 * MiB, 512 * MiB, 2048 * MiB)]
    assert lives[0] == pytest.approx(365 * DAY)
    assert lives[-2] == lives[-1] == pytest.approx(30 * DAY)
    assert all(a > b for a, b in itertools.pairwise(lives[:-1]))  # strictly shorter as size grows
    assert lives[3] == pytest.approx(30 * DAY + 335 * DAY / 8)  # half the limit: (1/2)^3 of the range


def test_choices_are_capped_by_the_policy():
    policy = RetentionPolicy("policy", min_age=30 * DAY, max_age=365 * DAY, max_size=100)
    assert policy.lifetime(1, "1h") == HOUR
    assert policy.lifetime(1, "30d") == 30 * DAY
    assert policy.lifetime(100, "never") == 30 * DAY  # never = as long as the size allows
    assert policy.lifetime(0, "never") == 365 * DAY
    off = RetentionPolicy("never", min_age=0, max_age=0, max_size=100)
    assert off.lifetime(100, None) is None and off.expires_at(100, None) is None
    assert off.lifetime(100, "7d") == 7 * DAY
    assert RetentionPolicy("1d", max_age=0).lifetime(5, None) == DAY  # the configured default
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert off.expires_at(1, "1h", now) == now + timedelta(hours=1)


@pytest.mark.parametrize("bad", ["2h", "forever", "-1", "1d;", "policy", "1h\r\nX: y"])
def test_bad_choices_refused(bad):
    with pytest.raises(BadExpiry):
        RetentionPolicy().check(bad)


def test_choices_are_case_and_space_tolerant():
    assert RetentionPolicy().check(" 1H ") == "1h"
    assert RetentionPolicy().check("") is None


def test_settings_validate_the_default():
    with pytest.raises(ValueError):
        Settings(expires_default="2w").validated()


# -- the expiry index: one contract, both backends ---------------------------------

def _record(n: int, expires_at: datetime | None) -> FileRecord:
    return FileRecord(filehash=f"{n:016x}.bin", sha256=f"{n:064x}", filename=f"f{n}.bin",
                      mimetype="application/octet-stream", size=n, uploaded_at=datetime(2026, 1, 1, tzinfo=UTC),
                      delete_token_hash="x", expires_at=expires_at)


# -- over HTTP ---------------------------------------------------------------------

@pytest.mark.gen_test
async def test_expiry_choice_by_form_field_and_query(upload, fetch):
    # The expiry is "now + choice" for some "now" during the request: bracket it, whatever the machine's speed.
    before = datetime.now(UTC).replace(microsecond=0)
    card = body_of(await upload(b"one hour", "a.txt", fields={"expires": "1h"}))
    put = await fetch("/b.txt?expires=7d", method="PUT", body=b"a week", headers={"Accept": "application/json"})
    after = datetime.now(UTC)
    assert before <= parse(card["expires_at"]) - timedelta(hours=1) <= after
    assert before <= parse(body_of(put)["expires_at"]) - timedelta(days=7) <= after
    # Default: the size policy (a tiny file gets close to the maximum, a year).
    default = body_of(await upload(b"default", "c.txt"))
    assert parse(default["expires_at"]) - before > timedelta(days=360)


@pytest.mark.gen_test
async def test_bad_expiry_is_400_and_leaves_nothing(upload, fetch, services):
    resp = await upload(b"data", "a.txt", fields={"expires": "forever"})
    assert resp.code == 400 and json.loads(resp.body)["error"]["code"] == "bad_expires"
    put = await fetch("/a.txt?expires=2h", method="PUT", body=b"data")
    assert put.code == 400 and json.loads(put.body)["error"]["code"] == "bad_expires"
    assert staging_files(services.settings.data_dir) == [] and blob_files(services.settings.data_dir) == []
    assert body_of(await fetch("/api/v1/files"))["total"] == 0


@pytest.mark.parametrize("settings_overrides", [dict(retention_max_age=0, expires_default="never")])
@pytest.mark.gen_test
async def test_never_without_policy(upload):
    card = body_of(await upload(b"forever", "a.txt"))
    assert card["expires_at"] is None
    assert body_of(await upload(b"for a day", "b.txt", fields={"expires": "1d"}))["expires_at"] is not None


async def _expire(services, card) -> None:
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    record = await services.store.get_by_filehash(card["filehash"])
    await services.retention.index.set_expiry(record.id, past)


@pytest.mark.gen_test
async def test_expired_files_answer_410_everywhere(upload, fetch, services):
    card = body_of(await upload(b"short-lived", "gone.txt", fields={"expires": "1h"}))
    keep = body_of(await upload(b"still here", "here.txt"))
    raw = await fetch(path_of(card["url_i"]))
    assert raw.code == 200
    max_age = int(raw.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert 3500 < max_age <= 3600  # caches may not keep it past its expiry
    await _expire(services, card)
    for url in ("url_p", "url_i", "url_d", "url_s", "url_api"):
        resp = await fetch(path_of(card[url]))
        assert resp.code == 410, (url, resp.code)
        assert json.loads(resp.body)["error"]["code"] == "expired"
        assert "Content-Disposition" not in resp.headers
    for url in ("url_p", "url_i", "url_s"):  # a browser gets a page
        page = await fetch(path_of(card[url]), headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.code == 410 and page.headers["Content-Type"].startswith("text/html")
        assert b"expired" in page.body
    listing = body_of(await fetch("/api/v1/files"))
    assert [f["filehash"] for f in listing["files"]] == [keep["filehash"]]


@pytest.mark.gen_test
async def test_reupload_of_expired_bytes_makes_a_new_file(upload, fetch, services):
    old = body_of(await upload(b"same bytes", "a.txt", fields={"expires": "1h"}))
    await _expire(services, old)
    again = await upload(b"same bytes", "b.txt", fields={"expires": "1d"})
    assert again.code == 201
    new = body_of(again)
    assert new["filehash"] != old["filehash"] and new["filename"] == "b.txt"
    assert (await fetch(path_of(new["url_i"]))).body == b"same bytes"
    assert (await fetch(path_of(old["url_i"]))).code == 404


@pytest.mark.gen_test
async def test_repeat_upload_never_moves_the_expiry(upload, services):
    """A record's lifetime is its own uploader's: a public dedupe hit answers the card as it is."""
    first = body_of(await upload(b"dup", "a.txt", fields={"expires": "1h"}))
    longer = await upload(b"dup", "a.txt", fields={"expires": "7d"})
    assert longer.code == 200
    assert body_of(longer)["expires_at"] == first["expires_at"]
    stored = await services.store.get_by_filehash(first["filehash"])
    assert stored.expires_at == parse(first["expires_at"])


# -- the sweeper -------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [dict(retention_grace=0, statsd_host="")])
@pytest.mark.gen_test
async def test_sweeper_deletes_expired_records_then_blobs(upload, fetch, services):
    events = []

    async def listen(kind, record):
        events.append((kind, record.filehash))

    services.ingestor.listeners.append(listen)
    gone = [body_of(await upload(b"gone %d" % i, f"g{i}.txt", fields={"expires": "1h"})) for i in range(3)]
    kept = body_of(await upload(b"kept", "k.txt", fields={"expires": "1h"}))
    for card in gone:
        await _expire(services, card)
    report = await services.retention.sweeper.sweep_expired()
    assert (report.records, report.blobs) == (3, 3)
    names = {p.name for p in blob_files(services.settings.data_dir)}
    assert names == {kept["sha256"]}
    for card in gone:
        assert await services.store.get_by_filehash(card["filehash"]) is None
        assert (await fetch(path_of(card["url_i"]))).code == 404
    assert {h for kind, h in events if kind == "file.deleted"} == {c["filehash"] for c in gone}
    assert (await services.retention.sweeper.sweep_expired()).records == 0  # nothing left: idempotent


@pytest.mark.parametrize("settings_overrides", [dict(retention_grace=0)])
@pytest.mark.gen_test(timeout=30)
async def test_two_sweepers_on_one_store_each_file_removed_once(upload, services, settings):
    """Two processes' worth of services over one data dir (SQLite WAL), sweeping at the same time."""
    cards = [body_of(await upload(b"file %d" % i, f"f{i}.txt", fields={"expires": "1h"})) for i in range(12)]
    for card in cards:
        await _expire(services, card)
    other = build_services(settings)
    await other.start()
    try:
        one, two = await asyncio.gather(services.retention.sweeper.sweep_expired(),
                                        other.retention.sweeper.sweep_expired())
    finally:
        await other.stop()
    assert one.records + two.records == 12
    assert blob_files(settings.data_dir) == []


@pytest.mark.parametrize("settings_overrides", [dict(retention_grace=60)])
@pytest.mark.gen_test
async def test_orphan_blobs_swept_after_grace(upload, services):
    card = body_of(await upload(b"referenced", "r.txt"))
    blobs = services.blobs
    orphan_old, orphan_new = "a" * 64, "b" * 64
    for sha in (orphan_old, orphan_new):
        path = blobs.path_for(sha)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(b"nobody's")
    old = time.time() - 3600
    for sha in (orphan_old, card["sha256"]):
        os.utime(blobs.path_for(sha), (old, old))
    report = await services.retention.sweeper.sweep_orphans()
    assert report.blobs == 1
    assert not os.path.exists(blobs.path_for(orphan_old))
    assert os.path.exists(blobs.path_for(orphan_new))  # too fresh: an upload may be about to record it
    assert os.path.exists(blobs.path_for(card["sha256"]))  # referenced
    assert (await services.retention.sweeper.sweep_orphans()).blobs == 0


@pytest.mark.parametrize("settings_overrides", [dict(retention_grace=0)])
@pytest.mark.gen_test
async def test_sweeper_takes_derivatives_with_their_parent(upload, fetch, services):
    parent = body_of(await upload(b"parent image bytes", "p.png", fields={"expires": "1h"}))
    child_bytes = b"derived bytes"
    sha = hashlib.sha256(child_bytes).hexdigest()
    path = services.blobs.path_for(sha)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(child_bytes)
    child = _record(7, None)
    parent_id = (await services.store.get_by_filehash(parent["filehash"])).id
    child.sha256, child.parent_id, child.variant = sha, parent_id, {"w": 8, "h": 8}
    child = await services.store.insert_file(child)
    await _expire(services, parent)
    report = await services.retention.sweeper.sweep_expired()
    assert (report.records, report.blobs) == (2, 2)
    assert await services.store.get_by_id(child.id) is None
    assert blob_files(services.settings.data_dir) == []
