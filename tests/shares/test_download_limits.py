"""Download limits and burn-after-read: counted exactly (an atomic conditional increment in the store),
also under concurrency and behind X-Accel; the last download burns the file (410, file.deleted)."""

from __future__ import annotations

import asyncio
import json

import pytest

pytestmark = pytest.mark.gen_test


async def test_burn_means_one_download_then_410(fetch, put_file):
    status, card = await put_file(b"read me once", "once.txt", "?burn=1")
    assert status == 201 and card["max_downloads"] == 1
    head = await fetch(f"/i/{card['filehash']}", method="HEAD")
    assert head.code == 200  # HEAD carries no bytes: not counted
    first = await fetch(f"/d/{card['filehash']}")
    assert first.code == 200 and first.body == b"read me once"
    assert first.headers["Cache-Control"] == "private, no-store"
    again = await fetch(f"/d/{card['filehash']}", headers={"Accept": "application/json"})
    assert again.code == 410 and json.loads(again.body)["error"]["code"] == "download_limit_reached"
    assert (await fetch(f"/i/{card['filehash']}")).code == 410
    assert (await fetch(f"/api/v1/files/{card['filehash']}", headers={"Accept": "application/json"})).code == 410


async def test_preview_page_and_unfurlers_do_not_use_up_a_download(fetch, put_file):
    _, card = await put_file(b"\x89PNG\r\n\x1a\n not really", "img.png", "?max_downloads=1")
    page = await fetch(f"/p/{card['filehash']}", headers={"Accept": "text/html"})
    assert page.code == 200
    html = page.body.decode()
    viewer = html.split('class="viewer')[1].split("</div>")[0]
    assert "<img" not in viewer and "src=" not in viewer
    assert "can be downloaded once" in html
    bot = await fetch(f"/i/{card['filehash']}", headers={"User-Agent": "Slackbot-LinkExpanding 1.0"})
    assert bot.code == 403
    resized = await fetch(f"/r/{card['filehash']}?w=10&h=10")
    assert resized.code in (403, 415)
    assert (await fetch(f"/i/{card['filehash']}")).code == 200  # still there for the person
    assert (await fetch(f"/i/{card['filehash']}")).code == 410


async def test_not_modified_and_unsatisfiable_ranges_are_not_counted(fetch, put_file):
    _, card = await put_file(b"0123456789", "r.txt", "?max_downloads=2")
    fh = card["filehash"]
    assert (await fetch(f"/i/{fh}", headers={"If-None-Match": f'"{card["sha256"]}"'})).code == 304
    assert (await fetch(f"/i/{fh}", headers={"Range": "bytes=50-60"})).code == 416
    ranged = await fetch(f"/i/{fh}", headers={"Range": "bytes=2-4"})
    assert ranged.code == 206 and ranged.body == b"234"  # a Range with bytes counts as a download
    assert (await fetch(f"/i/{fh}")).code == 200
    assert (await fetch(f"/i/{fh}")).code == 410


async def test_n_plus_one_simultaneous_downloads_exactly_n_succeed(fetch, put_file):
    _, card = await put_file(b"x" * 200_000, "many.bin", "?max_downloads=5")
    answers = await asyncio.gather(*(fetch(f"/d/{card['filehash']}") for _ in range(12)))
    codes = sorted(a.code for a in answers)
    assert codes == [200] * 5 + [410] * 7
    assert all(a.body == b"x" * 200_000 for a in answers if a.code == 200)


async def test_the_last_download_is_announced_as_file_deleted(fetch, put_file, services):
    _, card = await put_file(b"announce my end", "end.txt", "?max_downloads=1")
    after = services.events.high
    assert (await fetch(f"/i/{card['filehash']}")).code == 200
    for _ in range(50):
        events, _ = await services.events.events_after(after, await services.store.event_log.last_cursor(),
                                                        card["filehash"], 10)
        if any(e.type == "file.deleted" for e in events):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no file.deleted event")
    # The sweeper removes record and blob once the grace has passed (here: at once).
    record = await services.store.get_by_filehash(card["filehash"])
    assert record.exhausted
    await services.retention.sweeper.sweep_expired(now=record.expires_at)
    assert await services.store.get_by_filehash(card["filehash"]) is None
    assert not await services.blobs.exists(card["sha256"])


async def test_manage_link_sets_and_clears_a_limit(api, fetch, put_file):
    _, card = await put_file(b"limit me later", "later.txt")
    fh, token = card["filehash"], card["manage_token"]
    assert (await fetch(f"/i/{fh}")).code == 200
    _, got, _ = await api("PATCH", f"/api/v1/files/{fh}", {"max_downloads": 2}, headers={"X-Manage-Token": token})
    assert got["max_downloads"] == 2 and got["downloads"] == 0
    assert (await fetch(f"/i/{fh}")).code == 200
    _, got, _ = await api("PATCH", f"/api/v1/files/{fh}", {"max_downloads": None}, headers={"X-Manage-Token": token})
    assert got["max_downloads"] is None
    for _ in range(3):
        assert (await fetch(f"/i/{fh}")).code == 200


async def test_form_upload_with_burn_and_a_dedupe_hit_is_refused(upload, put_file):
    first = await upload(b"same bytes for burn", "a.txt", fields={"burn": "1"})
    assert first.code == 201 and json.loads(first.body)["max_downloads"] == 1
    status, body = await put_file(b"same bytes for burn", "b.txt", "?max_downloads=3")
    assert status == 409 and body["error"]["code"] == "already_stored"


@pytest.mark.parametrize("settings_overrides", [{"accel_redirect_prefix": "/_blobs/"}])
async def test_behind_x_accel_the_app_counts_before_answering(fetch, put_file):
    _, card = await put_file(b"served by nginx", "accel.txt", "?max_downloads=2")
    answers = await asyncio.gather(*(fetch(f"/i/{card['filehash']}") for _ in range(4)))
    codes = sorted(a.code for a in answers)
    assert codes == [200, 200, 410, 410]
    assert all(a.headers.get("X-Accel-Redirect") for a in answers if a.code == 200)
    assert not any(a.headers.get("X-Accel-Redirect") for a in answers if a.code == 410)
