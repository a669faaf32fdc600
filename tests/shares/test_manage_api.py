"""Manage links (the delete token, generalised): PATCH /api/v1/files/<fh> with X-Manage-Token or
X-Delete-Token changes expiry, private, name, password and download limit; DELETE keeps working."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

pytestmark = pytest.mark.gen_test


def when(card, key="expires_at"):
    return datetime.fromisoformat(card[key].replace("Z", "+00:00"))


async def test_upload_answers_a_manage_link_with_the_token_in_the_fragment(put_file):
    status, card = await put_file(b"hello manage", "m.txt")
    assert status == 201
    assert card["manage_token"] == card["delete_token"]
    assert card["url_manage"].endswith(f"/m/{card['filehash']}#{card['manage_token']}")
    assert (card["max_downloads"], card["downloads"], card["password"]) == (None, 0, False)


async def test_patch_changes_name_private_expiry_with_either_header(api, put_file):
    _, card = await put_file(b"to be managed", "old%20name.txt", "?expires=1d")
    fh, token = card["filehash"], card["manage_token"]
    status, got, _ = await api("PATCH", f"/api/v1/files/{fh}", {"filename": "new/name.txt", "private": True},
                               headers={"X-Manage-Token": token})
    assert status == 200 and got["filename"] == "name.txt" and got["private"] is True
    assert "policy" in got and "expires_max_seconds" in got["policy"]
    # Extend, then shorten, with the old header name.
    _, longer, _ = await api("PATCH", f"/api/v1/files/{fh}", {"expires": "30d"}, headers={"X-Delete-Token": token})
    assert when(longer) - datetime.now(when(longer).tzinfo) > timedelta(days=29)
    _, shorter, _ = await api("PATCH", f"/api/v1/files/{fh}", {"expires": 120}, headers={"X-Delete-Token": token})
    assert timedelta(seconds=100) < when(shorter) - datetime.now(when(shorter).tzinfo) <= timedelta(seconds=121)
    status, meta, _ = await api("GET", f"/api/v1/files/{fh}")
    assert meta["filename"] == "name.txt" and meta["expires_at"] == shorter["expires_at"]
    # An empty PATCH only checks the token (what the manage page does first).
    assert (await api("PATCH", f"/api/v1/files/{fh}", {}, headers={"X-Manage-Token": token}))[0] == 200


async def test_wrong_or_missing_token_and_bad_fields_are_refused(api, put_file):
    _, card = await put_file(b"guarded by its token", "g.txt")
    fh, token = card["filehash"], card["manage_token"]
    assert (await api("PATCH", f"/api/v1/files/{fh}", {"private": True}))[0] == 401
    status, body, _ = await api("PATCH", f"/api/v1/files/{fh}", {"private": True}, headers={"X-Manage-Token": "x"})
    assert status == 403 and body["error"]["code"] == "bad_token"
    for bad in ({"sha256": "0"}, {"private": "yes"}, {"expires": "forever"}, {"max_downloads": 0},
                {"max_downloads": "lots"}, {"filename": ""}, {"password": 5}):
        status, body, _ = await api("PATCH", f"/api/v1/files/{fh}", bad, headers={"X-Manage-Token": token})
        assert status == 400, (bad, body)
    status, _, _ = await api("PATCH", f"/api/v1/files/{fh}", raw=b"[1,2]",
                             headers={"X-Manage-Token": token, "Content-Type": "application/json"})
    assert status == 400
    assert (await api("GET", f"/api/v1/files/{fh}"))[1]["private"] is False  # nothing changed


@pytest.mark.parametrize("settings_overrides", [{"expires_max": 3600.0}])
async def test_expiry_stays_within_the_operators_maximum(api, put_file):
    _, card = await put_file(b"short lived by policy", "p.txt", "?expires=never")
    assert when(card) - datetime.now(when(card).tzinfo) <= timedelta(seconds=3601)
    _, got, _ = await api("PATCH", f"/api/v1/files/{card['filehash']}", {"expires": "30d"},
                          headers={"X-Manage-Token": card["manage_token"]})
    assert when(got) - datetime.now(when(got).tzinfo) <= timedelta(seconds=3601)
    assert got["policy"]["expires_max_seconds"] == 3600.0


async def test_delete_with_the_manage_token_and_the_delete_token(api, put_file):
    for header in ("X-Manage-Token", "X-Delete-Token"):
        _, card = await put_file(f"delete via {header}".encode(), "d.txt")
        status, body, _ = await api("DELETE", f"/api/v1/files/{card['filehash']}",
                                    headers={header: card["manage_token"]})
        assert status == 200 and body == {"deleted": card["filehash"]}
        assert (await api("GET", f"/api/v1/files/{card['filehash']}"))[0] == 404


@pytest.mark.parametrize("settings_overrides", [{"share_max_downloads": 5}])
async def test_the_operators_maximum_download_limit(api, put_file):
    status, body = await put_file(b"too many", "x.txt", "?max_downloads=6")
    assert status == 400 and "at most 5" in body["error"]["message"]
    _, card = await put_file(b"fine", "y.txt", "?max_downloads=5")
    assert card["max_downloads"] == 5


@pytest.mark.parametrize("settings_overrides", [{"share_passwords_required": True}])
async def test_passwords_required_by_the_operator(api, fetch, put_file):
    status, body = await put_file(b"no password", "n.txt")
    assert status == 400 and body["error"]["code"] == "password_required"
    status, card = await put_file(b"with one", "w.txt", headers={"X-Paste-Password": "hunter2"})
    assert status == 201 and card["password"] is True
    status, body, _ = await api("PATCH", f"/api/v1/files/{card['filehash']}", {"password": None},
                                headers={"X-Manage-Token": card["manage_token"]})
    assert status == 400 and body["error"]["code"] == "password_required"
    status, body, _ = await api("POST", "/api/v1/collections", {"title": "t"})
    assert status == 400 and body["error"]["code"] == "password_required"
    tus = await fetch("/api/v1/tus/", method="POST", body=b"", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3"})
    assert tus.code == 400  # tus cannot carry a password


async def test_visibility_changes_keep_dedupe_privacy(api, put_file, services):
    """One public file per content (docs/security.md, finding 7): a private file made public while another
    public file holds its bytes stays private (409); a file made private gets a private file's longer,
    new short code, and its public copies (derivatives) go with the old visibility."""
    _, public = await put_file(b"the same bytes twice", "pub.txt")
    _, private = await put_file(b"the same bytes twice", "priv.txt", "?private=1")
    assert private["filehash"] != public["filehash"] and len(private["short_code"]) == 11
    status, body, _ = await api("PATCH", f"/api/v1/files/{private['filehash']}", {"private": False},
                                headers={"X-Manage-Token": private["manage_token"]})
    assert status == 409 and body["error"]["code"] == "already_stored"
    assert (await api("GET", f"/api/v1/files/{private['filehash']}"))[1]["private"] is True
    status, hidden, _ = await api("PATCH", f"/api/v1/files/{public['filehash']}", {"private": True},
                                  headers={"X-Manage-Token": public["manage_token"]})
    assert status == 200 and hidden["private"] is True
    assert len(hidden["short_code"]) == 11 and hidden["short_code"] != public["short_code"]
    assert (await api("GET", f"/s/{public['short_code']}"))[0] == 404
    status, shown, _ = await api("PATCH", f"/api/v1/files/{private['filehash']}", {"private": False},
                                 headers={"X-Manage-Token": private["manage_token"]})
    assert status == 200 and shown["private"] is False and shown["short_code"] == private["short_code"]
    assert (await services.store.get_public_original(public["sha256"])).filehash == private["filehash"]
    # Unchanged visibility draws no new code.
    status, same, _ = await api("PATCH", f"/api/v1/files/{private['filehash']}", {"private": False},
                                headers={"X-Manage-Token": private["manage_token"]})
    assert status == 200 and same["short_code"] == private["short_code"]


async def test_a_guarded_private_upload_is_always_a_file_of_its_own(put_file):
    _, public = await put_file(b"public bytes, then a limited private copy", "a.txt")
    status, limited = await put_file(b"public bytes, then a limited private copy", "b.txt",
                                     "?private=1&max_downloads=2")
    assert status == 201 and limited["filehash"] != public["filehash"] and limited["max_downloads"] == 2
    status, body = await put_file(b"public bytes, then a limited private copy", "c.txt", "?max_downloads=2")
    assert status == 409 and body["error"]["code"] == "already_stored"  # the public original is not theirs
