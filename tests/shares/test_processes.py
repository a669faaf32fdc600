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
