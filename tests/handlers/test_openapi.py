"""docs/openapi.yaml: served at /api/v1/openapi.yaml, and schemathesis against a live server.

Schemathesis generates requests from the document (valid and invalid parameters, bodies,
methods) for every implemented operation; every response must be below 500 and conform to
the document (status code, content type, headers, body schema). Bounded examples per
operation keep it under a minute on a busy machine. The event feeds (a long-poll waits up to
its timeout; a WebSocket needs an upgrade) and tus (a stateful protocol) are left to their
own suites and to tests/hostile/test_http.py.
"""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from handlers.openapi import OPENAPI_PATH
from tests.helpers import ServerProcess
from tests.hostile_support import check_integrity, http_call

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("openapi") / "data").start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-3000:]
    check_integrity(srv.data_dir)


@pytest.fixture(scope="module")
def api_schema(live):
    # Loaded from the server itself, so the route that serves it is exercised too.
    return schemathesis.openapi.from_url(live.url + "/api/v1/openapi.yaml")


def test_document_is_served_and_valid(live):
    status, headers, body = http_call(live.port, "GET", "/api/v1/openapi.yaml")
    assert status == 200
    assert headers["content-type"].startswith("application/yaml")
    with open(OPENAPI_PATH, "rb") as handle:
        assert body == handle.read()
    doc = yaml.safe_load(body)
    assert doc["openapi"].startswith("3.1")
    for path in ("/", "/{filename}", "/i/{filehash}", "/d/{filehash}", "/s/{code}", "/api/v1/files",
                 "/api/v1/files/{key}", "/healthz", "/r/{filehash}", "/api/v1/events", "/api/v1/tus",
                 "/delete/{filehash}", "/api/v1/clients", "/api/v1/clients/{name}"):
        assert path in doc["paths"], path
    status, _, _ = http_call(live.port, "GET", "/api/v1/openapi.yaml", headers={"If-None-Match": headers["etag"]})
    assert status == 304


schema = schemathesis.pytest.from_fixture("api_schema").exclude(tag="realtime").exclude(tag="tus")


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_live_server_conforms(case, live):
    case.call_and_validate(base_url=live.url, checks=CHECKS, timeout=30)
