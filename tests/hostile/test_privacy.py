"""An attacker with only public data must not reach a private file (docs/security.md).

Finding 1: short codes were Sqids of sequential ids (the alphabet can be rebuilt from listed
(id, code) pairs), and the listing's ids showed which ids were private. Finding 10: a derivative of a
private image named and linked its parent. Also the event feed, metadata and pagination answers.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import body_of, path_of
from tests.imagegen import stripes_bytes
from tornado_paste.core.secret import SECRET_FILE, load_or_create_secret
from tornado_paste.services import build_services

pytestmark = pytest.mark.usefixtures("no_server_errors")

JSON = {"Accept": "application/json"}
BASE62 = re.compile(r"^[A-Za-z0-9]+$")
# Keys of a card that name a record by its store-internal integer id.
ID_KEYS = {"id", "parent_id"}


def walk_keys(value) -> set[str]:
    """Every key anywhere in a decoded JSON document."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in walk_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in walk_keys(v)}
    return set()


# -- finding 1: ids and short codes -------------------------------------------------------------
@pytest.mark.gen_test
async def test_no_answer_carries_an_integer_id(fetch, upload):
    """Cards (upload answer, metadata, listing, event feed) name files by capability only."""
    public = body_of(await upload(b"public one", "a.txt"))
    private = body_of(await upload(b"private one", "b.txt", fields={"private": "1"}))
    listing = body_of(await fetch("/api/v1/files"))
    meta = body_of(await fetch(f"/api/v1/files/{public['filehash']}"))
    events = body_of(await fetch("/api/v1/events?cursor=0&timeout=0"))
    for answer in (public, private, listing, meta, events):
        assert not walk_keys(answer) & ID_KEYS, answer
    assert [f["filehash"] for f in listing["files"]] == [public["filehash"]]


@pytest.mark.gen_test
async def test_integer_ids_are_not_an_address(fetch, upload):
    """``/api/v1/files/<n>`` used to answer public files by id: enumerable, and its 404s marked private ids."""
    for i in range(3):
        await upload(b"counted %d" % i, f"c{i}.txt")
    for n in range(1, 6):
        resp = await fetch(f"/api/v1/files/{n}")
        assert resp.code == 404, (n, resp.code)
        assert body_of(resp)["error"]["code"] == "not_found"


@pytest.mark.gen_test
async def test_short_codes_are_random_capabilities(fetch, upload):
    """Private codes: >= 11 base62 characters (> 64 bits); public ones 8 (not sequential either)."""
    publics = [body_of(await upload(b"pub %d" % i, f"p{i}.txt")) for i in range(5)]
    privates = [body_of(await upload(b"priv %d" % i, f"q{i}.txt", fields={"private": "1"})) for i in range(5)]
    for card in publics + privates:
        code = card["short_code"]
        assert BASE62.match(code) and card["url_s"].endswith("/s/" + code)
        assert len(code) >= (11 if card["private"] else 8), card
        resp = await fetch(path_of(card["url_s"]))
        assert resp.code == 302 and resp.headers["Location"] == card["url_p"]
    codes = [c["short_code"] for c in publics + privates]
    assert len(set(codes)) == len(codes)


@pytest.mark.gen_test(timeout=60)
async def test_short_codes_are_not_a_function_of_the_upload_order_and_the_secret(fetch, upload, settings,
                                                                                   tmp_path):
    """The strongest enumerating attacker knows the deployment secret (or rebuilt the Sqids alphabet from
    listed pairs) and the upload order. A second deployment with the same secret and the same uploads is
    that attacker: none of its codes may open a file of the first."""
    cards = [body_of(await upload(b"seq %d" % i, f"s{i}.txt", fields={"private": str(i % 2)})) for i in range(8)]
    twin_dir = tmp_path / "twin"
    twin_dir.mkdir()
    shutil.copy(f"{settings.data_dir}/{SECRET_FILE}", twin_dir / SECRET_FILE)
    assert load_or_create_secret(str(twin_dir)) == load_or_create_secret(settings.data_dir)
    twin = build_services(dataclasses.replace(settings, data_dir=str(twin_dir)).validated())
    await twin.start()
    try:
        twin_cards = []
        for i in range(8):
            upload_ = twin.ingestor.begin()
            upload_.write(b"seq %d" % i)
            result = await upload_.finish(f"s{i}.txt", private=bool(i % 2))
            twin_cards.append(twin.links.card(result.record))
    finally:
        await twin.stop()
    for mine, guess in zip(cards, twin_cards, strict=True):
        assert guess["short_code"] != mine["short_code"], mine
        assert guess["filehash"] != mine["filehash"]
        assert (await fetch("/s/" + guess["short_code"])).code == 404


@pytest.mark.gen_test
async def test_pagination_cursor_is_opaque_and_skips_no_public_file(fetch, upload):
    """``before=`` is no integer id: from public pages one learns nothing of the private files between them."""
    cards = []
    for i in range(9):
        cards.append(body_of(await upload(b"page %d" % i, f"n{i}.txt", fields={"private": "1" if i % 3 else "0"})))
    public = [c["filehash"] for c in reversed(cards) if not c["private"]]
    seen, url, cursors = [], "/api/v1/files?limit=1", []
    while url:
        resp = await fetch(url)
        assert resp.code == 200
        seen += [f["filehash"] for f in body_of(resp)["files"]]
        link = resp.headers.get("Link")
        url = path_of(link[1:link.index(">")]) if link else None
        if url:
            cursor = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["before"][0]
            assert not cursor.isdigit(), cursor
            cursors.append(cursor)
    assert seen == public
    assert resp.headers["X-Total-Count"] == str(len(public))
    for n in ("1", "2", "5", "9"):  # the old integer cursors are refused, not interpreted
        resp = await fetch(f"/api/v1/files?before={n}")
        assert resp.code == 400 and body_of(resp)["error"]["code"] == "bad_parameter"
    for position in (0, 12, 20, len(cursors[0]) - 1):  # nonce, encrypted id, tag, spare bits
        swap = "B" if cursors[0][position] == "A" else "A"
        tampered = cursors[0][:position] + swap + cursors[0][position + 1:]
        assert (await fetch(f"/api/v1/files?before={tampered}")).code == 400, position


@pytest.mark.gen_test
async def test_short_link_applies_the_same_visibility_rules(fetch, upload, services):
    card = body_of(await upload(b"soon gone", "g.txt", fields={"expires": "1h", "private": "1"}))
    assert (await fetch(path_of(card["url_s"]))).code == 302
    record = await services.store.get_by_filehash(card["filehash"])
    await services.store.expiry.set_expiry(record.id, datetime.now(UTC).replace(microsecond=0) - timedelta(1))
    resp = await fetch(path_of(card["url_s"]))
    assert resp.code == 410 and body_of(resp)["error"]["code"] == "expired"
    assert (await fetch(path_of(card["url_p"]))).code == 410
    await services.ingestor.remove(record)
    assert (await fetch(path_of(card["url_s"]))).code == 404


# -- finding 10: a derivative names nothing of its private parent ------------------------------
@pytest.mark.gen_test
async def test_derivative_of_a_private_image_reveals_nothing_of_its_parent(fetch, upload):
    secret_name = "passport-scan-john-doe.png"
    parent = body_of(await upload(stripes_bytes("PNG"), secret_name, fields={"private": "1"}))
    resp = await fetch(f"/r/{parent['filehash']}?w=64&h=64", headers=JSON)
    assert resp.code == 201, resp.body
    child = body_of(resp)
    assert child["private"] is True
    assert child["filename"] == "resized_64x64.png"
    assert not walk_keys(child) & ID_KEYS
    dumped = json.dumps(child)
    for secret in ("passport", "john", parent["filehash"], parent["short_code"], parent["sha256"]):
        assert secret not in dumped, secret
    for key in ("url_p", "url_api", "url_d"):
        page = await fetch(path_of(child[key]), headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.code == 200
        text = page.body.decode("utf-8", "replace") + json.dumps(dict(page.headers.get_all()))
        for secret in ("passport", "john", parent["filehash"], parent["short_code"]):
            assert secret not in text, (key, secret)
    # Not listed, and no public event names it.
    assert child["filehash"] not in json.dumps(body_of(await fetch("/api/v1/files")))
    assert child["filehash"] not in json.dumps(body_of(await fetch("/api/v1/events?cursor=0&timeout=0")))


@pytest.mark.gen_test
async def test_derivative_of_a_public_image_still_links_its_parent(fetch, upload):
    parent = body_of(await upload(stripes_bytes("PNG"), "holiday.png"))
    child = body_of(await fetch(f"/r/{parent['filehash']}?w=32&h=32", headers=JSON))
    assert child["private"] is False and child["filename"] == "holiday_32x32.png"
    page = (await fetch(path_of(child["url_p"]))).body.decode()
    assert f'href="{parent["url_p"]}"' in page and "holiday.png" in page
