"""Derivatives across processes: a real ``run.py --processes 2``; identical concurrent requests, one record."""

from __future__ import annotations

import http.client
import json
import threading

from tests.helpers import ServerProcess, multipart_body
from tests.imagegen import stripes_bytes


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_identical_requests_in_two_processes_share_one_derivative(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=["--processes", "2"]) as server:
        body, ctype = multipart_body(None, {"file": ("p.png", stripes_bytes("PNG", 800, 400), "image/png")})
        status, parent = request(server.port, "POST", "/", body, {"Content-Type": ctype})
        assert status == 201
        results: list[tuple[int, dict]] = []
        start = threading.Barrier(8)

        def resize() -> None:
            start.wait(10)  # one new connection each: the kernel spreads them over both workers
            results.append(request(server.port, "GET", f"/r/{parent['filehash']}?w=123&h=77"))

        threads = [threading.Thread(target=resize) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 8 and all(code in (200, 201) for code, _ in results), results
        assert len({card["filehash"] for _code, card in results}) == 1
        assert sorted(code for code, _ in results) == [200] * 7 + [201]
        status, listing = request(server.port, "GET", "/api/v1/files?limit=100")
        derivatives = [f for f in listing["files"] if "variant" in f]
        assert [d["filehash"] for d in derivatives] == [results[0][1]["filehash"]]
    assert server.proc.returncode == 0
