"""Passwords on files and collections: argon2 hashes, unlock grants (cookie or X-Paste-Unlock header)
for that file only, 401 JSON for raw links without one (the unlock page for a browser), rate limits."""

from __future__ import annotations

import json
import urllib.parse

import pytest

pytestmark = pytest.mark.gen_test


async def protected(put_file, data=b"secret bytes", password="correct horse"):
    status, card = await put_file(data, "secret.txt", headers={"X-Paste-Password": password})
    assert status == 201 and card["password"] is True
    return card


async def test_raw_links_answer_401_json_without_a_grant_and_browsers_get_the_unlock_page(fetch, put_file, services):
    card = await protected(put_file)
    record = await services.store.get_by_filehash(card["filehash"])
    assert record.password_hash.startswith("$argon2id$")
    for prefix in ("i", "d", "p"):
        response = await fetch(f"/{prefix}/{card['filehash']}", headers={"Accept": "application/json"})
        assert response.code == 401, prefix
        assert json.loads(response.body)["error"]["code"] == "password_required"
    assert (await fetch(f"/r/{card['filehash']}?w=5&h=5", headers={"Accept": "application/json"})).code == 401
    page = await fetch(f"/i/{card['filehash']}", headers={"Accept": "text/html"})
    assert page.code == 401 and b'type="password"' in page.body and b"<script>" not in page.body


async def test_unlock_grants_that_file_only_by_header(api, fetch, put_file):
    card = await protected(put_file)
    other = await protected(put_file, b"another secret")
    status, body, response = await api("POST", f"/api/v1/files/{card['filehash']}/unlock",
                                       {"password": "correct horse"})
    assert status == 200 and body["header"] == "X-Paste-Unlock"
    assert "httponly" in response.headers["Set-Cookie"].lower()
    grant = {"X-Paste-Unlock": body["unlock"]}
    assert (await fetch(f"/i/{card['filehash']}", headers=grant)).body == b"secret bytes"
    assert (await fetch(f"/p/{card['filehash']}", headers=grant)).code == 200
    assert (await fetch(f"/i/{other['filehash']}", headers=grant)).code == 401  # that file only
    forged = body["unlock"].rsplit(".", 1)[0] + ".AAAA"
    assert (await fetch(f"/i/{card['filehash']}", headers={"X-Paste-Unlock": forged})).code == 401


async def test_wrong_password_and_attempt_limits(api, put_file):
    card = await protected(put_file)
    status, body, _ = await api("POST", f"/api/v1/files/{card['filehash']}/unlock", {"password": "nope"})
    assert status == 403 and body["error"]["code"] == "wrong_password"
    codes = [(await api("POST", f"/api/v1/files/{card['filehash']}/unlock", {"password": "nope"}))[0]
             for _ in range(12)]
    assert 429 in codes
    status, _, response = await api("POST", f"/api/v1/files/{card['filehash']}/unlock", {"password": "correct horse"})
    assert status == 429 and int(response.headers["Retry-After"]) >= 1  # even the right one, for now


async def test_browser_form_unlock_sets_the_cookie_and_goes_back(fetch, put_file):
    card = await protected(put_file)
    form = urllib.parse.urlencode({"password": "correct horse", "next": f"/p/{card['filehash']}"})
    response = await fetch(f"/api/v1/files/{card['filehash']}/unlock", method="POST", body=form,
                           headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
    assert response.code == 303 and response.headers["Location"] == f"/p/{card['filehash']}"
    cookie = response.headers["Set-Cookie"].split(";")[0]
    assert (await fetch(f"/i/{card['filehash']}", headers={"Cookie": cookie})).body == b"secret bytes"
    evil = urllib.parse.urlencode({"password": "correct horse", "next": "//evil.example/"})
    response = await fetch(f"/api/v1/files/{card['filehash']}/unlock", method="POST", body=evil,
                           headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
    assert response.headers["Location"] == "/"
    wrong = urllib.parse.urlencode({"password": "bad", "next": "/"})
    response = await fetch(f"/api/v1/files/{card['filehash']}/unlock", method="POST", body=wrong,
                           headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
    assert response.code == 403 and b"Wrong password" in response.body


async def test_password_set_and_cleared_with_the_manage_link(api, fetch, put_file):
    _, card = await put_file(b"open then closed", "o.txt")
    fh, token = card["filehash"], card["manage_token"]
    _, got, _ = await api("PATCH", f"/api/v1/files/{fh}", {"password": "pw"}, headers={"X-Manage-Token": token})
    assert got["password"] is True
    assert (await fetch(f"/i/{fh}")).code == 401
    _, unlocked, _ = await api("POST", f"/api/v1/files/{fh}/unlock", {"password": "pw"})
    grant = {"X-Paste-Unlock": unlocked["unlock"]}
    assert (await fetch(f"/i/{fh}", headers=grant)).code == 200
    # A new password revokes every grant of the old one.
    await api("PATCH", f"/api/v1/files/{fh}", {"password": "pw2"}, headers={"X-Manage-Token": token})
    assert (await fetch(f"/i/{fh}", headers=grant)).code == 401
    _, got, _ = await api("PATCH", f"/api/v1/files/{fh}", {"password": None}, headers={"X-Manage-Token": token})
    assert got["password"] is False
    assert (await fetch(f"/i/{fh}")).code == 200


async def test_a_password_protected_collection(api, fetch, put_file):
    _, card = await put_file(b"inside a locked collection", "in.txt")
    status, coll, _ = await api("POST", "/api/v1/collections", {"title": "Locked", "password": "open sesame",
                                                                 "files": [card["filehash"]]})
    assert status == 201 and coll["password"] is True
    code = coll["code"]
    assert (await api("GET", f"/api/v1/collections/{code}"))[0] == 401
    assert (await fetch(f"/c/{code}/zip")).code == 401
    assert (await fetch(f"/c/{code}", headers={"Accept": "text/html"})).code == 401
    _, body, _ = await api("POST", f"/api/v1/collections/{code}/unlock", {"password": "open sesame"})
    grant = {"X-Paste-Unlock": body["unlock"]}
    status, seen, _ = await api("GET", f"/api/v1/collections/{code}", headers=grant)
    assert status == 200 and [f["filehash"] for f in seen["files"]] == [card["filehash"]]
    assert (await fetch(f"/c/{code}/zip", headers=grant)).code == 200
    # The manager needs no password.
    assert (await api("GET", f"/api/v1/collections/{code}", headers={"X-Manage-Token": coll["manage_token"]}))[0] == 200
