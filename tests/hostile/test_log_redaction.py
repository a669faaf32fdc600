"""Finding 9: delete tokens in logs. ``DELETE /api/v1/files/<fh>?token=…`` wrote the token into the
app's access log (and nginx's: tests/hostile/test_nginx_hostile.py). Secrets in the query are
redacted in every line Tornado writes about a request; header values are never logged."""

from __future__ import annotations

import logging

import pytest

from handlers.redact import redact_uri
from tests.conftest import body_of
from tests.hostile_support import raw_exchange, request_bytes


def test_redact_uri_keeps_the_rest_of_the_query():
    assert redact_uri("/api/v1/files/x.txt?token=s3cret") == "/api/v1/files/x.txt?token=[redacted]"
    assert (redact_uri("/p?a=1&delete_token=x&Manage_Token=y&password=z&client%5Fsecret=w&b=2")
            == "/p?a=1&delete_token=[redacted]&Manage_Token=[redacted]&password=[redacted]"
               "&client%5Fsecret=[redacted]&b=2")
    assert redact_uri("/plain") == "/plain" and redact_uri("/q?flag&w=3") == "/q?flag&w=3"


@pytest.mark.gen_test(timeout=30)
async def test_delete_token_never_reaches_the_app_log(upload, fetch, services, http_port, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    card = body_of(await upload(b"secret holder", "s.txt"))
    token, fh = card["delete_token"], card["filehash"]
    wrong = "WRONGqueryTOKEN0123456789"
    header_secret = "HEADERsecretTOKEN0123456789"
    raw_secret = "RAWheaderTOKEN0123456789"
    boom_secret = "BOOMqueryTOKEN0123456789"

    assert (await fetch(f"/api/v1/files/{fh}?token={wrong}", method="DELETE")).code == 403
    assert (await fetch(f"/api/v1/files/{fh}", method="DELETE",
                        headers={"X-Delete-Token": header_secret})).code == 403
    # A header value Tornado refuses to parse: its error message quotes the value.
    refused = await raw_exchange(http_port, request_bytes(
        "DELETE", f"/api/v1/files/{fh}?token={raw_secret}", {"X-Delete-Token": f"ab\x01{raw_secret}"}))
    assert refused.status == 400

    # An unexpected failure: Tornado's traceback line named repr(request), query string included.
    async def broken(record, tok):
        raise RuntimeError("store exploded")

    with monkeypatch.context() as patch:
        patch.setattr(services.ingestor, "delete", broken)
        assert (await fetch(f"/api/v1/files/{fh}?token={boom_secret}", method="DELETE")).code == 500

    # The query form still works (the header is preferred).
    deleted = await fetch(f"/api/v1/files/{fh}?token={token}", method="DELETE")
    assert deleted.code == 200, deleted.body

    text = caplog.text
    assert "store exploded" in text  # the traceback is still logged...
    assert f"DELETE /api/v1/files/{fh}?token=[redacted]" in text  # ...and the access lines
    for secret in (token, wrong, header_secret, raw_secret, boom_secret):
        assert secret not in text, secret
