#!/usr/bin/env python3
"""Load test: 200 concurrent clients mixing 100 KB uploads and raw downloads for 30 s,
(a) straight to one Tornado process, (b) through nginx (the shipped nginx.conf) to two processes.

    python bench/load.py [--connections 200] [--duration 30] [--upload-ratio 0.5]

wrk generates the load (bench/load.lua; one wrk thread per core). Prints requests/s, p50/p99
latency and errors for both, and the ratio of (b) to the (a) baseline. Errors must be 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from tests.helpers import ServerProcess  # noqa: E402
from tests.nginx_stack import Stack  # noqa: E402

LUA = Path(__file__).with_name("load.lua")


def seed_files(url: str, count: int, size: int) -> list[str]:
    """Upload ``count`` files of ``size`` bytes; their /i/ paths are what the clients download."""
    paths = []
    for i in range(count):
        body = f"seed {i} {uuid.uuid4()}".encode().ljust(size, b".")
        request = urllib.request.Request(f"{url}/seed-{i}.bin", data=body, method="PUT",
                                         headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            card = json.loads(response.read())
        paths.append("/i/" + card["url_i"].rsplit("/", 1)[1])
    return paths


def run_wrk(url: str, paths: list[str], args: argparse.Namespace, label: str) -> dict:
    env = {**os.environ, "BENCH_PATHS": ",".join(paths), "BENCH_UPLOAD_RATIO": str(args.upload_ratio),
           "BENCH_UPLOAD_BYTES": str(args.size), "BENCH_RUN": f"{label}-{uuid.uuid4().hex[:8]}"}
    threads = max(1, min(os.cpu_count() or 1, args.connections))
    command = ["wrk", "-t", str(threads), "-c", str(args.connections), "-d", f"{args.duration}s",
               "--timeout", "30s", "-s", str(LUA), url]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.duration + 120)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    result = json.loads(line.split(" ", 1)[1])
    seconds = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def report(label: str, r: dict) -> str:
    return (f"{label:<32} {r['rps']:>9.0f} req/s   p50 {r['p50_us'] / 1000:>7.1f} ms   "
            f"p99 {r['p99_us'] / 1000:>7.1f} ms   errors {r['errors']} "
            f"(connect {r['connect']}, read {r['read']}, write {r['write']}, status {r['status']}, "
            f"timeout {r['timeout']})   requests {r['requests']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--duration", type=int, default=30)
    p.add_argument("--upload-ratio", type=float, default=0.5, help="share of requests that are uploads")
    p.add_argument("--size", type=int, default=100 * 1024, help="bytes per upload / seeded file")
    p.add_argument("--seed-files", type=int, default=50)
    args = p.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx"):
        print("bench/load.py needs wrk and nginx (make setup-system)", file=sys.stderr)
        return 2
    # All 200 clients are 127.0.0.1: this measures throughput, not the per-IP abuse limits
    # (rate limits, concurrent uploads per client), which would refuse most of them.
    os.environ.setdefault("TORNADO_PASTE_RATELIMIT_EXEMPT", "127.0.0.1")
    os.environ.setdefault("TORNADO_PASTE_UPLOAD_MAX_PER_CLIENT", "0")
    results = {}
    with tempfile.TemporaryDirectory(prefix="tp-load-") as tmp:
        direct = ServerProcess(Path(tmp) / "direct" / "data", log_path=Path(tmp) / "direct.log")
        direct.log_path.parent.mkdir(parents=True, exist_ok=True)
        direct.args += ["--log-level", "WARNING"]
        direct.start()
        try:
            paths = seed_files(direct.url, args.seed_files, args.size)
            results["a"] = run_wrk(direct.url, paths, args, "direct")
        finally:
            direct.stop()
        # nginx's per-IP limit_conn/limit_req zones would refuse most of them too: exempt the load generator.
        stack = Stack(Path(tmp) / "stack", backends=2, max_upload_size=1 << 30, worker_processes=2,
                      extra_args=["--log-level", "WARNING"],
                      nginx_values={"limit_exempt": ["default 0", "127.0.0.1 1"]})
        stack.start()
        try:
            paths = seed_files(stack.url, args.seed_files, args.size)
            time.sleep(1)
            results["b"] = run_wrk(stack.url, paths, args, "nginx")
        finally:
            stack.stop()
    print(f"{args.connections} clients, {args.duration} s, {args.upload_ratio:.0%} uploads of {args.size} B "
          f"(each unique), the rest /i/ downloads of {args.seed_files} seeded files; cores: {os.cpu_count()}")
    print(report("(a) direct, 1 Tornado process", results["a"]))
    print(report("(b) nginx -> 2 Tornado processes", results["b"]))
    a, b = results["a"], results["b"]
    print(f"ratio (b)/(a): throughput x{b['rps'] / a['rps']:.2f}, p50 x{b['p50_us'] / max(1, a['p50_us']):.2f}, "
          f"p99 x{b['p99_us'] / max(1, a['p99_us']):.2f}")
    print("BENCH_JSON " + json.dumps(results))
    return 0 if a["errors"] == 0 and b["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
