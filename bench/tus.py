#!/usr/bin/env python3
"""Benchmark: a 1 GiB upload through tus (32 MiB PATCHes) vs the same file through plain ``POST /``.

Each phase gets a fresh ``run.py`` server (own data dir) so its peak RSS (VmHWM) is its own.
Prints wall time of each, the ratio tus/plain (target <= 1.3) and the server's peak RSS (target < 100 MB).

    .venv/bin/python bench/tus.py [--size 1G] [--chunk 32M]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tests/ (the server fixtures) is not installed: the benchmarks import it from the checkout.
sys.path.insert(0, str(ROOT))

from settings import parse_size  # noqa: E402
from tests.helpers import ServerProcess  # noqa: E402

BLOCK = 1 << 20


def make_file(path: Path, size: int) -> None:
    """Incompressible-looking bytes without spending a minute in os.urandom."""
    seed = os.urandom(BLOCK)
    with open(path, "wb") as f:
        written = 0
        counter = 0
        while written < size:
            block = counter.to_bytes(8, "big") + seed[8:]
            piece = block[: size - written]
            f.write(piece)
            written += len(piece)
            counter += 1


def file_blocks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        remaining = length
        while remaining > 0:
            block = f.read(min(BLOCK, remaining))
            if not block:
                raise OSError("source file ended early")
            remaining -= len(block)
            yield block


def peak_rss_mb(server: ServerProcess) -> float:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def connect(server: ServerProcess) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=600, blocksize=BLOCK)


def plain_upload(server: ServerProcess, path: Path, size: int) -> dict:
    boundary = "----bench" + uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from file_blocks(path, 0, size)
        yield tail

    conn = connect(server)
    conn.request("POST", "/", body=body(), headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json",
        "Content-Length": str(len(head) + size + len(tail))})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    if response.status not in (200, 201):
        raise RuntimeError(f"plain upload failed: {response.status} {payload[:300]!r}")
    return json.loads(payload)


def tus_upload(server: ServerProcess, path: Path, size: int, chunk: int) -> dict:
    conn = connect(server)
    name = base64.b64encode(path.name.encode()).decode()
    conn.request("POST", "/api/v1/tus/", body=b"", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(size), "Upload-Metadata": f"filename {name}"})
    response = conn.getresponse()
    response.read()
    if response.status != 201:
        raise RuntimeError(f"tus creation failed: {response.status}")
    upload_path = "/" + response.getheader("Location").split("/", 3)[3]
    offset = 0
    location = None
    while offset < size:
        length = min(chunk, size - offset)
        conn.request("PATCH", upload_path, body=file_blocks(path, offset, length), headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset), "Content-Length": str(length),
            "Content-Type": "application/offset+octet-stream"})
        response = conn.getresponse()
        payload = response.read()
        if response.status != 204:
            raise RuntimeError(f"PATCH at {offset} failed: {response.status} {payload[:300]!r}")
        offset = int(response.getheader("Upload-Offset"))
        location = response.getheader("X-File-Location")
    conn.request("GET", "/" + location.split("/", 3)[3], headers={"Accept": "application/json"})
    response = conn.getresponse()
    card = json.loads(response.read())
    conn.close()
    return card


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G")
    parser.add_argument("--chunk", default="32M")
    parser.add_argument("--rounds", type=int, default=2,
                        help="plain and tus alternate this many times (order swapped each round); best of each")
    args = parser.parse_args()
    size, chunk = parse_size(args.size), parse_size(args.chunk)

    with tempfile.TemporaryDirectory(prefix="tp-bench-tus-") as tmp:
        work = Path(tmp)
        source = work / "bench.bin"
        make_file(source, size)
        env = {"TORNADO_PASTE_MAX_UPLOAD_SIZE": str(size + (1 << 20)), "TORNADO_PASTE_LOG_LEVEL": "WARNING"}
        results: dict[str, tuple[float, float, str]] = {}
        for round_no in range(args.rounds):
            # Alternate the order: whichever phase runs first would otherwise share the disk with
            # the previous phase's (or the generated file's) writeback.
            for phase in ("plain", "tus") if round_no % 2 == 0 else ("tus", "plain"):
                os.sync()  # both phases start with a settled disk
                data = work / f"data-{phase}-{round_no}"
                server = ServerProcess(data, env=env, log_path=work / f"{phase}-{round_no}.log").start()
                try:
                    started = time.perf_counter()
                    if phase == "plain":
                        card = plain_upload(server, source, size)
                    else:
                        card = tus_upload(server, source, size, chunk)
                    elapsed = time.perf_counter() - started
                    rss = peak_rss_mb(server)
                finally:
                    server.stop()
                shutil.rmtree(data, ignore_errors=True)
                print(f"round {round_no + 1} {phase:>5}: {elapsed:7.2f} s  {size / elapsed / (1 << 20):7.1f} MiB/s  "
                      f"server peak RSS {rss:6.1f} MB", flush=True)
                best = results.get(phase)
                peak = max(rss, best[1]) if best else rss
                results[phase] = (min(elapsed, best[0]) if best else elapsed, peak, card["sha256"])

    plain_time, _plain_rss, plain_sha = results["plain"]
    tus_time, tus_rss, tus_sha = results["tus"]
    ratio = tus_time / plain_time
    print(f"best of {args.rounds}: plain {plain_time:.2f} s, tus {tus_time:.2f} s")
    print(f"size {size} bytes, tus PATCH size {chunk} bytes")
    print(f"tus/plain time ratio: {ratio:.2f}  (target <= 1.30: {'OK' if ratio <= 1.3 else 'MISSED'})")
    print(f"tus server peak RSS: {tus_rss:.1f} MB  (target < 100 MB: {'OK' if tus_rss < 100 else 'MISSED'})")
    print(f"same sha256 both ways: {plain_sha == tus_sha}")
    return 0 if plain_sha == tus_sha else 1


if __name__ == "__main__":
    sys.exit(main())
