"""Structured logs: JSON lines with the request id, secrets never written, repeated errors rate-limited.

The filter and the redaction alone first, then a real ``run.py --log-format json`` whose log is
read line by line; the id through nginx is in tests/system/test_request_ids.py.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import json
import logging
import sqlite3
import time

import pytest

from tests.helpers import ServerProcess
from tornado_paste.metrics.logs import RepeatFilter, configure_logging, flush_repeats, redact

SECRETS = ("s3cr3t-query-token", "s3cr3t-delete-token", "s3cr3t-bearer", "s3cr3t-password")


@pytest.fixture
def restore_logging():
    """configure_logging replaces the root handlers (pytest's capture too): put everything back after."""
    root, access = logging.getLogger(), logging.getLogger("tornado.access")
    saved = (list(root.handlers), root.level, access.disabled)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    access.disabled = saved[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_one_error_is_one_line_per_interval_with_the_count(restore_logging):
    clock = Clock()
    stream = io.StringIO()
    handler = configure_logging("INFO", "json", 10.0, stream=stream)
    handler.repeat.clock = clock
    log = logging.getLogger("tornado_paste.test_flood")
    for i in range(1000):  # 1000 identical failures over 31 s: paths differ, the failure does not
        log.warning("%s %s: %s", "PUT", f"/file{i}.txt", ConnectionError("store unavailable"))
        if i < 3:
            log.info("an info line is never held back %d", i)
        clock.now += 1 / 32  # exact in binary: 320 a 10 s interval
    log.error("another failure is its own key")
    flush_repeats(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    floods = [line for line in lines if line["logger"] == "tornado_paste.test_flood" and line["level"] == "WARNING"]
    # At 0, 10, 20 and 30 s (each saying how many the interval before held back), and the rest at shutdown.
    assert [line.get("suppressed", 0) for line in floods] == [0, 319, 319, 319, 39]
    assert 4 + sum(line.get("suppressed", 0) for line in floods) == 1000
    assert floods[0]["msg"] == "PUT /file0.txt: store unavailable"
    assert len([line for line in lines if line["level"] == "INFO"]) == 3
    assert [line["msg"] for line in lines if line["level"] == "ERROR"] == ["another failure is its own key"]


def test_repeat_filter_keys_on_the_failure_not_the_arguments():
    clock = Clock()
    keep = RepeatFilter(60, clock=clock)

    def record(msg: str, *args: object, lineno: int = 1) -> logging.LogRecord:
        return logging.LogRecord("x", logging.WARNING, "f.py", lineno, msg, args, None)

    assert keep.filter(record("%s: %s", "/a", ValueError("a")))
    assert not keep.filter(record("%s: %s", "/b", ValueError("b")))  # same failure, other path
    assert keep.filter(record("%s: %s", "/a", KeyError("a")))  # another exception type
    assert keep.filter(record("%s: %s", "/a", ValueError("a"), lineno=2))  # another place in the code
    assert keep.filter(logging.LogRecord("x", logging.INFO, "f.py", 1, "%s", ("info",), None))


def test_redaction_of_query_values_and_header_values():
    text = ("GET /api/v1/files/x?token=v-abc&w=10&api_key=v-k1&Password=v-p (1.2.3.4) "
            "{'X-Delete-Token': 'v-tok', 'Authorization': 'Bearer v-xyz'} X-Delete-Token: v-plain")
    out = redact(text)
    for secret in ("v-abc", "v-k1", "v-p", "v-tok", "v-xyz", "v-plain"):
        assert secret not in out, (secret, out)
    assert "w=10" in out and out.count("[redacted]") == 6


def _call(port: int, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_run_py_json_lines_carry_the_request_id_and_no_secret_and_bound_a_flood(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=["--log-format", "json", "--log-level", "INFO"],
                           env={"TORNADO_PASTE_STORE_TIMEOUT": "0.2"})
    with server:
        port = server.port
        status, headers, body = _call(port, "PUT", "/a.txt", b"hello logs\n", {"X-Request-Id": "client-id-42"})
        assert status == 201 and headers["x-request-id"] == "client-id-42"
        card = json.loads(body)
        status, headers, _ = _call(port, "GET", f"/api/v1/files/{card['filehash']}?token=s3cr3t-query-token&w=3",
                                   headers={"Authorization": "Bearer s3cr3t-bearer"})
        generated = headers["x-request-id"]
        assert status == 200 and len(generated) == 32
        # A refused delete with the wrong token in the header, and an id we do not take (not our charset).
        status, headers, _ = _call(port, "DELETE", f"/api/v1/files/{card['filehash']}?password=s3cr3t-password",
                                   headers={"X-Delete-Token": "s3cr3t-delete-token", "X-Request-Id": "bad id <script>"})
        assert status == 403 and len(headers["x-request-id"]) == 32
        assert _call(port, "GET", "/no/such/page", headers={"X-Request-Id": "err-7"})[1]["x-request-id"] == "err-7"
        # A flood: the store is locked, 20 uploads answer 503, each would log a warning.
        lock = sqlite3.connect(tmp_path / "data" / "paste.sqlite3", timeout=5, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            with concurrent.futures.ThreadPoolExecutor(5) as pool:
                statuses = list(pool.map(lambda i: _call(port, "PUT", f"/f{i}.txt", b"x")[0], range(20)))
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert statuses == [503] * 20
        time.sleep(0.2)
    text = server.log()
    for secret in SECRETS:
        assert secret not in text, secret
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    access = [line for line in lines if line["logger"] == "tornado_paste.access" and "status" in line]
    by_id = {line["request_id"]: line for line in access}
    assert by_id["client-id-42"]["route"] == "upload_put" and by_id["client-id-42"]["status"] == 201
    got = by_id[generated]
    assert got["route"] == "api_file" and got["path"] == f"/api/v1/files/{card['filehash']}"
    assert got["query"] == "token=[redacted]&w=3" and got["client"] == "127.0.0.1" and got["duration_ms"] >= 0
    assert by_id["err-7"]["status"] == 404 and by_id["err-7"]["route"] == "not_found"
    assert len([line for line in access if line["status"] == 503]) == 20  # the access log keeps every request
    warnings = [line for line in lines if line["level"] == "WARNING" and "StoreUnavailable" not in line["msg"]
                and "/f" in line["msg"]]
    assert 1 <= len(warnings) <= 2, warnings  # the first, and the count of the rest at shutdown
    assert warnings[0].get("request_id")  # logged while handling that request: it carries the id
    assert sum(line.get("suppressed", 0) for line in warnings) + 1 == 20
