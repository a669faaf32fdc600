#!/usr/bin/env python3
"""Requests/s of a cheap route with metrics on vs. off, in one run (target: on is at most 5% slower).

    python bench/metrics_overhead.py [--route /healthz] [--seconds 5] [--rounds 7] [--connections 16]

Two real ``run.py`` servers (one process each) share the machine: one without StatsD, one sending
to a UDP sink that drains like a StatsD daemon. ``wrk`` loads them in turns (off, on, on, off, ...)
so drift and noisy neighbours hit both alike; the figure per mode is the median of its rounds.
Throughput on a shared machine is noisy, so the server's own CPU time per request (psutil) is
reported too: it is what metrics actually add, and it hardly moves with the neighbours' load.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tests/ (the server fixtures) is not installed: the benchmarks import it from the checkout.
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from tests.helpers import ServerProcess  # noqa: E402

SINK = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
count = 0
while True:
    count += sock.recv(65535).count(b"\\n") + 1
"""


def wrk(url: str, seconds: int, connections: int) -> tuple[float, int]:
    """(requests/s, requests) of one wrk run."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True,
                         check=True, timeout=seconds + 30).stdout
    match = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not match:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} error responses from {url}")
    return float(match.group(1)), int(re.search(r"(\d+) requests in", out).group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--route", default="/healthz")
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=7)  # 3 rounds swung by +-3% on a quiet 2-core box
    p.add_argument("--connections", type=int, default=16)
    args = p.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2

    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        sink_port = int(sink.stdout.readline())
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("off", "on"):
                (Path(tmp) / name).mkdir()
            off = ServerProcess(Path(tmp) / "off" / "data", extra_args=["--log-level", "WARNING"])
            on = ServerProcess(Path(tmp) / "on" / "data", extra_args=[
                "--log-level", "WARNING", "--statsd-host", "127.0.0.1", "--statsd-port", str(sink_port)])
            with off, on:
                for server in (off, on):  # warm up
                    wrk(server.url + args.route, 1, args.connections)
                results: dict[str, list[float]] = {"off": [], "on": []}
                cpu_us: dict[str, list[float]] = {"off": [], "on": []}
                for round_no in range(1, args.rounds + 1):
                    order = (("off", off), ("on", on))
                    for name, server in order if round_no % 2 else reversed(order):  # ABBA: cancel drift
                        proc = psutil.Process(server.proc.pid)
                        before = sum(proc.cpu_times()[:2])
                        rps, count = wrk(server.url + args.route, args.seconds, args.connections)
                        per_request = (sum(proc.cpu_times()[:2]) - before) / count * 1e6
                        results[name].append(rps)
                        cpu_us[name].append(per_request)
                        print(f"round {round_no}: metrics {name:3s} {rps:9.1f} req/s  "
                              f"{per_request:7.1f} us server CPU/request", flush=True)
    finally:
        sink.kill()
        sink.wait()

    off_rps, on_rps = statistics.median(results["off"]), statistics.median(results["on"])
    off_cpu, on_cpu = statistics.median(cpu_us["off"]), statistics.median(cpu_us["on"])
    ratio = on_rps / off_rps
    print(f"route {args.route}, {args.rounds} rounds x {args.seconds}s, wrk -t1 -c{args.connections}")
    print(f"metrics off (baseline): {off_rps:9.1f} req/s, {off_cpu:6.1f} us CPU/request (medians)")
    print(f"metrics on:             {on_rps:9.1f} req/s, {on_cpu:6.1f} us CPU/request (medians)")
    print(f"throughput ratio on/off: {ratio:.3f} -> {(1 - ratio) * 100:+.1f}% slower (target <= 5%)")
    print(f"CPU per request on/off:  {on_cpu / off_cpu:.3f} -> {(on_cpu / off_cpu - 1) * 100:+.1f}% more CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
