"""Every operation of docs/openapi.yaml, called for real on a run.py, its answer validated with
openapi-core (status, headers, content type, body schema): the document says what the server does."""

from __future__ import annotations

import base64
import http.client
import json
import os
import urllib.parse

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from handlers.openapi import OPENAPI_PATH
from tests.helpers import ServerProcess, multipart_body
from tests.uikit import png_bytes

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("oapi") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def spec():
    return OpenAPI.from_file_path(OPENAPI_PATH)


class Caller:
    def __init__(self, live, spec):
        self.live, self.spec = live, spec
        self.covered: set[tuple[str, str]] = set()

    def __call__(self, method, path, template, headers=None, body=None, expect=None):
        parts = urllib.parse.urlsplit(path)
        conn = http.client.HTTPConnection("127.0.0.1", self.live.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            got = {k: v for k, v in response.getheaders()}
        finally:
            conn.close()
        if expect is not None:
            assert response.status == expect, (method, path, response.status, data[:300])
        args = dict(urllib.parse.parse_qsl(parts.query))
        ctype = (headers or {}).get("Content-Type", "application/json")
        request = MockRequest(self.live.url, method.lower(), parts.path, path_pattern=template, args=args,
                              headers=headers or {}, data=body or b"", content_type=ctype)
        media = got.get("Content-Type", "").split(";")[0] or "application/octet-stream"
        # openapi-core hands non-JSON bodies to the schema as bytes; a `type: string` body is text to it.
        shown = data if media == "application/json" else data.decode("utf-8", "replace")
        answer = MockResponse(shown, status_code=response.status, headers=got, content_type=media)
        self.spec.validate_response(request, answer)
        self.covered.add((template, method.lower()))
        return response.status, got, data


def test_every_operation_answers_as_documented(live, spec):
    call = Caller(live, spec)
    J = {"Accept": "application/json"}
    call("GET", "/", "/", expect=200)
    body, ctype = multipart_body(files={"file": ("pic.png", png_bytes(), "image/png")})
    _, _, created = call("POST", "/", "/", {**J, "Content-Type": ctype}, body, expect=201)
    card = json.loads(created)
    fh = card["filehash"]
    _, _, put = call("PUT", "/notes.txt", "/{filename}", {**J}, b"some text " + os.urandom(4).hex().encode(),
                     expect=201)
    text = json.loads(put)
    call("PUT", "/api/v1/files/other.bin", "/api/v1/files/{key}", {**J}, os.urandom(100), expect=201)
    call("GET", f"/p/{fh}", "/p/{filehash}", expect=200)
    call("GET", f"/p/{fh}/qr.svg", "/p/{filehash}/qr.svg", expect=200)
    for prefix, template in (("i", "/i/{filehash}"), ("d", "/d/{filehash}")):
        call("GET", f"/{prefix}/{fh}", template, expect=200)
        call("GET", f"/{prefix}/{fh}", template, {"Range": "bytes=0-9"}, expect=206)
        call("GET", f"/{prefix}/{fh}", template, {"If-Match": '"nope"'}, expect=412)
        call("HEAD", f"/{prefix}/{fh}", template, expect=200)
    call("GET", "/i/0000000000000000.png", "/i/{filehash}", expect=404)
    short = urllib.parse.urlsplit(card["url_s"]).path
    call("GET", short, "/s/{code}", expect=302)
    call("GET", "/api/v1/files", "/api/v1/files", J, expect=200)
    call("GET", f"/api/v1/files?sha256={card['sha256']}", "/api/v1/files", J, expect=200)
    call("GET", "/api/v1/files?sha256=zz", "/api/v1/files", J, expect=400)
    call("GET", f"/api/v1/files/{fh}", "/api/v1/files/{key}", J, expect=200)
    call("GET", f"/r/{fh}?w=8&h=8", "/r/{filehash}", J, expect=201)
    call("GET", f"/t/{fh}", "/t/{filehash}", J, expect=415)  # an image has no poster: it is its own picture
    oembed = "/api/v1/oembed?" + urllib.parse.urlencode({"url": card["url_p"], "format": "json"})
    call("GET", oembed, "/api/v1/oembed", J, expect=200)
    call("GET", "/healthz", "/healthz", J, expect=200)
    call("GET", "/api/v1/openapi.yaml", "/api/v1/openapi.yaml", expect=200)
    call("GET", "/api/v1/docs", "/api/v1/docs", expect=200)
    call("GET", "/robots.txt", "/robots.txt", expect=200)
    call("GET", "/api/v1/events?cursor=0&timeout=0", "/api/v1/events", J, expect=200)
    call("GET", "/api/v1/events?cursor=999999&timeout=0", "/api/v1/events", J, expect=400)
    call("GET", "/ws", "/ws", expect=426)
    call("GET", "/api/v1/clients", "/api/v1/clients", J, expect=200)
    for name in ("sharex.sxcu", "upload.sh", "curl.txt"):
        call("GET", f"/api/v1/clients/{name}", "/api/v1/clients/{name}", expect=200)
    tus = {"Tus-Resumable": "1.0.0"}
    call("OPTIONS", "/api/v1/tus", "/api/v1/tus", expect=204)
    meta = "filename " + base64.b64encode(b"t.bin").decode()
    _, headers, _ = call("POST", "/api/v1/tus", "/api/v1/tus",
                         {**tus, "Upload-Length": "4", "Upload-Metadata": meta}, expect=201)
    upload = urllib.parse.urlsplit(headers["Location"]).path
    template = "/api/v1/tus/{upload_id}"
    call("HEAD", upload, template, tus, expect=200)
    call("PATCH", upload, template, {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
         b"ab", expect=204)
    call("PATCH", upload, template, {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
         b"ab", expect=409)
    call("DELETE", upload, template, tus, expect=204)
    shares_operations(call, J)
    page = f"/delete/{text['filehash']}"
    call("GET", f"{page}?token=x", "/delete/{filehash}", expect=200)
    form = {"Content-Type": "application/x-www-form-urlencoded", **J}
    call("POST", page, "/delete/{filehash}", form, b"token=wrong", expect=403)
    call("POST", page, "/delete/{filehash}", form, f"token={text['delete_token']}".encode(), expect=200)
    call("DELETE", f"/api/v1/files/{fh}", "/api/v1/files/{key}", {**J, "X-Delete-Token": "wrong"}, expect=403)
    call("DELETE", f"/api/v1/files/{fh}", "/api/v1/files/{key}", {**J, "X-Delete-Token": card["delete_token"]},
         expect=200)

    with open(OPENAPI_PATH) as handle:
        document = yaml.safe_load(handle)
    operations = {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}
    assert operations - call.covered == set()


def shares_operations(call, J):
    """Collections, request links, manage changes, passwords, zips and their pages (docs/shares.md)."""
    js = {**J, "Content-Type": "application/json"}
    _, _, raw = call("PUT", "/locked.txt", "/{filename}", {**J, "X-Paste-Password": "pw"},
                     b"locked " + os.urandom(4).hex().encode(), expect=201)
    locked = json.loads(raw)
    lf, ltoken = locked["filehash"], {"X-Manage-Token": locked["manage_token"]}
    call("PATCH", f"/api/v1/files/{lf}", "/api/v1/files/{key}", {**js, **ltoken},
         json.dumps({"filename": "still locked.txt", "max_downloads": 5}).encode(), expect=200)
    call("PATCH", f"/api/v1/files/{lf}", "/api/v1/files/{key}", js, b"{}", expect=401)
    call("POST", f"/api/v1/files/{lf}/unlock", "/api/v1/files/{filehash}/unlock", js,
         json.dumps({"password": "pw"}).encode(), expect=200)
    call("POST", f"/api/v1/files/{lf}/unlock", "/api/v1/files/{filehash}/unlock", js,
         json.dumps({"password": "wrong"}).encode(), expect=403)
    call("GET", f"/m/{lf}", "/m/{filehash}", expect=200)
    _, _, made = call("POST", "/api/v1/collections", "/api/v1/collections", js,
                      json.dumps({"title": "Docs", "private": False,
                                  "request": {"max_files": 3, "max_bytes": 10000}}).encode(), expect=201)
    coll = json.loads(made)
    code, ctoken = coll["code"], {"X-Manage-Token": coll["manage_token"]}
    request = coll["request_code"]
    item = f"/api/v1/collections/{code}"
    call("GET", item, "/api/v1/collections/{code}", J, expect=200)
    call("PATCH", item, "/api/v1/collections/{code}", {**js, **ctoken}, json.dumps({"title": "Docs 2"}).encode(),
         expect=200)
    body, ctype = multipart_body(files={"file": ("into.txt", b"into " + os.urandom(4).hex().encode(), "text/plain")})
    _, _, into = call("POST", f"{item}/upload", "/api/v1/collections/{code}/upload",
                      {**J, **ctoken, "Content-Type": ctype}, body, expect=201)
    call("PUT", f"{item}/upload/put.txt", "/api/v1/collections/{code}/upload/{filename}", {**J, **ctoken},
         b"put " + os.urandom(4).hex().encode(), expect=201)
    _, _, other = call("PUT", "/other.txt", "/{filename}", J, b"other " + os.urandom(4).hex().encode(), expect=201)
    other_fh = json.loads(other)["filehash"]
    call("POST", f"{item}/files", "/api/v1/collections/{code}/files", {**js, **ctoken},
         json.dumps({"files": [other_fh]}).encode(), expect=200)
    call("DELETE", f"{item}/files/{other_fh}", "/api/v1/collections/{code}/files/{filehash}", {**J, **ctoken},
         expect=200)
    call("GET", f"/u/{request}", "/u/{request}", J, expect=200)
    body, ctype = multipart_body(files={"file": ("req.txt", b"req " + os.urandom(4).hex().encode(), "text/plain")})
    call("POST", f"/u/{request}", "/u/{request}", {**J, "Content-Type": ctype}, body, expect=201)
    call("PUT", f"/u/{request}/req2.txt", "/u/{request}/{filename}", J, b"req2 " + os.urandom(4).hex().encode(),
         expect=201)
    call("GET", f"/c/{code}", "/c/{code}", expect=200)
    call("GET", f"/m/c/{code}", "/m/c/{code}", expect=200)
    zipped = f"/c/{code}/zip"
    call("GET", zipped, "/c/{code}/zip", expect=200)
    call("GET", zipped, "/c/{code}/zip", {"Range": "bytes=0-9"}, expect=206)
    call("HEAD", zipped, "/c/{code}/zip", expect=200)
    _, _, made = call("POST", "/api/v1/collections", "/api/v1/collections", js,
                      json.dumps({"title": "Shut", "password": "sesame"}).encode(), expect=201)
    shut = json.loads(made)
    call("POST", f"/api/v1/collections/{shut['code']}/unlock", "/api/v1/collections/{code}/unlock", js,
         json.dumps({"password": "sesame"}).encode(), expect=200)
    call("DELETE", f"/api/v1/collections/{shut['code']}", "/api/v1/collections/{code}",
         {**J, "X-Manage-Token": shut["manage_token"]}, expect=200)
    call("DELETE", item, "/api/v1/collections/{code}", {**J, **ctoken}, expect=200)
    assert json.loads(into)["filehash"]
