"""Download limits across processes: two real server processes on one SQLite file; N+1 simultaneous
full downloads split between them, exactly N succeed and the rest answer 410."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import ServerProcess


@pytest.fixture
def two_servers(tmp_path):
    data = tmp_path / "data"
    first = ServerProcess(data).start()
    second = ServerProcess(data, log_path=tmp_path / "second.log").start()
    yield first, second
    second.stop()
    first.stop()
    for server in (first, second):
        assert "Traceback" not in server.log(), server.log()[-3000:]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_n_plus_one_downloads_over_two_processes_exactly_n_succeed(two_servers):
    first, second = two_servers
    payload = b"z" * 300_000
    request = urllib.request.Request(first.url + "/limited.bin?max_downloads=6", data=payload, method="PUT",
                                     headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        card = json.loads(response.read())
    fh = card["filehash"]
    urls = [(first if i % 2 else second).url + f"/d/{fh}" for i in range(7)] * 2  # 14 at once, 6 allowed
    with ThreadPoolExecutor(len(urls)) as pool:
        answers = list(pool.map(get, urls))
    codes = sorted(code for code, _ in answers)
    assert codes == [200] * 6 + [410] * 8, codes
    assert all(body == payload for code, body in answers if code == 200)
    # Both processes agree it is gone.
    assert get(first.url + f"/i/{fh}")[0] == 410 and get(second.url + f"/i/{fh}")[0] == 410


def test_request_quota_holds_across_two_processes(two_servers):
    first, second = two_servers
    body = json.dumps({"request": {"max_bytes": 100_000}}).encode()
    request = urllib.request.Request(first.url + "/api/v1/collections", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        coll = json.loads(response.read())

    def put(i: int) -> int:
        server = first if i % 2 else second
        req = urllib.request.Request(f"{server.url}/u/{coll['request_code']}/p{i}.bin", data=bytes([i]) * 9_000,
                                     method="PUT", headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(put, range(16)))
    assert codes.count(201) == 11 and codes.count(413) == 5, codes  # 11 x 9000 <= 100000 < 12 x 9000
    request = urllib.request.Request(second.url + f"/api/v1/collections/{coll['code']}",
                                     headers={"Accept": "application/json", "X-Manage-Token": coll["manage_token"]})
    with urllib.request.urlopen(request, timeout=30) as response:
        managed = json.loads(response.read())
    assert managed["total_size"] == 99_000 and managed["request"]["used_bytes"] == 99_000
