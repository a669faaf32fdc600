#!/usr/bin/env python3
"""Stream a large file through ``POST /`` and compare with hashing+writing it locally.

    python bench/upload_stream.py            # starts its own server on a free port
    python bench/upload_stream.py --size 256M --url http://127.0.0.1:8000

Prints the upload's MB/s, the server's peak RSS (VmHWM), and the in-run
baseline: the same file read, sha256-hashed and written locally — the least
work any server must do with these bytes (also shown with an fsync, which the
server does; the ratio uses the stricter no-fsync figure). Targets (issue 2): peak
RSS < 100 MB and upload time <= 2.5x the baseline;
issue 15: <= 1.2x ``dd bs=1M conv=fsync`` of the same file, peak RSS < 64 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tests/ (the server fixtures) is not installed: the benchmarks import it from the checkout.
sys.path.insert(0, str(ROOT))

from settings import parse_size  # noqa: E402
from tests.helpers import ServerProcess  # noqa: E402

CHUNK = 1 << 20


def make_file(path: Path, size: int) -> str:
    """Random-looking content, unique per run (so the server cannot dedupe it away)."""
    block = os.urandom(16 * CHUNK)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        head = os.urandom(32)
        out.write(head)
        digest.update(head)
        left = size - len(head)
        while left > 0:
            piece = block[: min(left, len(block))]
            out.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def local_baseline(src: Path, dst_dir: Path, fsync: bool) -> float:
    """Seconds to read, sha256 and write the file (optionally fsync): the floor for any upload."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    dst = dst_dir / "baseline.out"
    with open(src, "rb") as inp, open(dst, "wb") as out:
        while chunk := inp.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        if fsync:
            os.fsync(out.fileno())
    elapsed = time.perf_counter() - started
    dst.unlink()
    return elapsed


def dd_baseline(src: Path, dst_dir: Path) -> float:
    """Seconds for ``dd bs=1M conv=fsync``: copying the bytes durably, no hashing (issue 15's yardstick)."""
    dst = dst_dir / "dd.out"
    started = time.perf_counter()
    subprocess.run(["dd", f"if={src}", f"of={dst}", "bs=1M", "conv=fsync", "status=none"], check=True)
    elapsed = time.perf_counter() - started
    dst.unlink()
    return elapsed


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_cpu(pid: int) -> float:
    """User+system CPU seconds the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def upload_with_curl(url: str, path: Path) -> tuple[int, float, dict]:
    out = subprocess.run(
        ["curl", "-sS", "-H", "Accept: application/json", "-F", f"file=@{path}", "-w", "\n%{http_code} %{time_total}",
         url + "/"], capture_output=True, text=True, check=True)
    body, _, tail = out.stdout.rpartition("\n")
    code, seconds = tail.split()
    return int(code), float(seconds), json.loads(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1G", help="file size (default 1G)")
    parser.add_argument("--url", help="an already running server (peak RSS then not measured)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    size = parse_size(args.size)
    if not shutil.which("curl"):
        print("curl is needed (apt-get install curl)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="tp-bench-"))
    server = None
    try:
        src = work / "payload.bin"
        print(f"generating {size / 2**20:.0f} MiB test file ...", flush=True)
        expected = make_file(src, size)
        os.sync()  # let the generated file's writeback finish before anything is timed
        if args.url:
            url = args.url.rstrip("/")
        else:
            server = ServerProcess(work / "data", extra_args=["--max-upload-size", str(size + 2**20)]).start()
            url = server.url
        reps = max(3, args.runs)  # page-cache writeback makes single runs noisy: take the best
        baseline = min(local_baseline(src, work, fsync=False) for _ in range(reps))
        baseline_sync = min(local_baseline(src, work, fsync=True) for _ in range(reps))
        baseline_dd = min(dd_baseline(src, work) for _ in range(reps))
        results = []
        cpu_before = server_cpu(server.proc.pid) if server else 0.0
        for run in range(args.runs):
            if run:
                expected = make_file(src, size)
            code, seconds, card = upload_with_curl(url, src)
            assert code == 201, (code, card)
            assert card["sha256"] == expected, "server hashed different bytes"
            results.append(seconds)
        upload_s = min(results)
        cpu_used = (server_cpu(server.proc.pid) - cpu_before) / args.runs if server else float("nan")
        mb = size / 1e6
        print(f"file size            {size / 2**20:.0f} MiB")
        print(f"upload (curl -F)     {upload_s:.2f} s   {mb / upload_s:.0f} MB/s")
        print(f"baseline hash+write  {baseline:.2f} s   {mb / baseline:.0f} MB/s   (read, sha256, write; no fsync)")
        print(f"  same + fsync       {baseline_sync:.2f} s   {mb / baseline_sync:.0f} MB/s   (the server fsyncs too)")
        print(f"ratio upload/base    {upload_s / baseline:.2f}x   (vs the no-fsync baseline; target <= 2.5x)")
        print(f"ratio vs base+fsync  {upload_s / baseline_sync:.2f}x   (the same durability as the server)")
        print(f"dd conv=fsync        {baseline_dd:.2f} s   {mb / baseline_dd:.0f} MB/s   (copy + fsync, no hash)")
        print(f"ratio upload/dd      {upload_s / baseline_dd:.2f}x   (issue 15 target <= 1.2x)")
        if server is not None:
            rss = peak_rss_mb(server.proc.pid)
            print(f"server peak RSS      {rss:.1f} MB   (VmHWM; target < 64 MB)")
            print(f"server CPU per run   {cpu_used:.2f} s   (user+sys)")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
