#!/usr/bin/env python3
"""Load test with wrk (bench/load.lua): 100 KB uploads and/or raw downloads against several targets.

    python bench/load.py [--mode mixed|upload|download] [--targets one,two,nginx,static]
                         [--connections 200[,1000]] [--duration 30] [--rounds 1] [--baseline-ref REF]

Modes:
  mixed     (default) --upload-ratio of the requests 100 KB raw uploads (PUT, every body unique), the
            rest /i/ downloads of --seed-files seeded files; default targets one,nginx.
  upload    only uploads: multipart/form-data POST / with one part (name="file", filename="x.bin",
            application/octet-stream, as aiohttp's FormData sends it), every file unique, every answer
            must be 201 (a new file); no seeding; default connections 200 and 1000, targets one,two,nginx.
  download  only GET /i/<name> of one seeded 100 KB file; default targets one,two,nginx,static.

Targets:
  one     run.py, one process, straight to it;
  two     run.py --processes 2 (two workers sharing the listening socket), straight to it;
  nginx   the shipped nginx.conf (2 workers, X-Accel-Redirect downloads) -> two run.py processes
          (tests/nginx_stack.Stack);
  static  download mode only: a small nginx (2 workers, sendfile, an access log) serving the same
          100 KB file from a directory, the limit the others are compared with.

Every phase starts its servers afresh (new data dir). Per phase the script prints req/s, p50/p99, the
errors (wrk's connect/read/write/timeout, and every answer whose status is not the expected one) and
the server CPU per request: user+sys CPU seconds of the server's processes (the run.py master, its
workers and any child they reaped; nginx's master and workers, shown separately) over the measured
window, read with psutil, divided by the requests wrk completed; also wrk's own CPU per request.

--baseline-ref REF checks REF out into a temporary git worktree (removed at the end, also on Ctrl-C)
and runs each target from that tree too (its run.py, cwd and PYTHONPATH; nginx.conf stays the current
tree's), alternating: baseline X, current X, baseline Y, current Y, ... and again for each of --rounds.
The summary then gives current/baseline ratios of req/s and CPU ms/request (medians over the rounds).

All clients are 127.0.0.1: the script exempts it from the app's and nginx's per-IP limits (this
measures throughput, not the abuse controls). It raises its own RLIMIT_NOFILE (wrk, nginx and the
servers inherit it). The last line is ``BENCH_JSON {...}``. Exit status 1 if any phase had an error.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench import baseline  # noqa: E402
from bench.nofile import raise_nofile  # noqa: E402
from tests.helpers import ServerProcess, free_port  # noqa: E402
from tests.nginx_stack import Stack  # noqa: E402

LUA = Path(__file__).with_name("load.lua")
MODES = ("mixed", "upload", "download")
TARGETS = ("one", "two", "nginx", "static")
DEFAULT_TARGETS = {"mixed": "one,nginx", "upload": "one,two,nginx", "download": "one,two,nginx,static"}
DEFAULT_CONNECTIONS = {"mixed": "200", "upload": "200,1000", "download": "200"}
LABELS = {"one": "direct, 1 process", "two": "direct, --processes 2", "nginx": "nginx -> 2 processes",
          "static": "nginx static file (limit)"}
# The answers wrk's Lua checks one by one (download mode leaves it to wrk's own >= 400 count: handing
# every 100 KB body to Lua would cost the client more CPU than the static limit leaves it).
EXPECT = {"mixed": "200,201", "upload": "201", "download": ""}
SEED_NAME = "seed.bin"
# Download mode's --route: the cheap routes, each a GET about the one seeded file.
ROUTES = ("i", "healthz", "meta", "short", "preview")


def tree_cpu(pids: list[int]) -> float:
    """User+sys CPU seconds of these processes and all their descendants, including the children they
    reaped (so a worker or helper that exits inside the window still counts, once)."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


# System-wide kernel counters of a listen queue that overflowed (a backlog too small for the connections
# opened at once): a full accept queue drops the handshake's ACK, a full SYN queue falls back to SYN
# cookies, and a cookie that no longer validates when the client's data arrives gets a reset (wrk: a
# read error).
TCP_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPReqQFullDoCookies", "SyncookiesSent", "SyncookiesFailed")


def tcp_counters() -> dict[str, int]:
    """The TcpExt ``TCP_COUNTERS`` from /proc/net/netstat (system-wide)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    for names, values in itertools.pairwise(lines):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], map(int, values.split()[1:]), strict=False))
            return {k: table.get(k, 0) for k in TCP_COUNTERS}
    return {}


def seed_body(index: int, size: int, tag: str, binary: bool = False) -> bytes:
    """A seeded file: text for mixed mode (as before), random bytes (application/octet-stream) for download."""
    if binary:
        return random.Random(f"{tag}-{index}").randbytes(size)
    return f"seed {index} {tag}".encode().ljust(size, b".")


def seed_files(url: str, count: int, size: int, tag: str, binary: bool = False) -> list[str]:
    """Upload ``count`` files of ``size`` bytes; their /i/ paths are what the clients download."""
    paths = []
    for i in range(count):
        request = urllib.request.Request(f"{url}/seed-{i}.bin", data=seed_body(i, size, tag, binary), method="PUT",
                                         headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            card = json.loads(response.read())
        paths.append("/i/" + card["url_i"].rsplit("/", 1)[1])
    return paths


def check_download(url: str, path: str, body: bytes) -> None:
    with urllib.request.urlopen(url + path, timeout=30) as response:
        got = response.read()
        if response.status != 200 or got != body:
            raise RuntimeError(f"GET {url}{path}: {response.status}, {len(got)} bytes (expected 200, {len(body)})")


@dataclass
class Running:
    url: str
    app: list[int] = field(default_factory=list)    # root pids of the app processes (run.py)
    nginx: list[int] = field(default_factory=list)  # nginx master pids
    seeded: list[str] = field(default_factory=list)


class StaticNginx:
    """nginx serving ``www/`` (``/i/seed.bin``) with the shipped config's transfer settings."""

    def __init__(self, prefix: Path, worker_processes: int = 2) -> None:
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.www = prefix / "www"
        (self.www / "i").mkdir(parents=True, exist_ok=True)
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / name).mkdir(exist_ok=True)
        temps = "\n".join(f"    {n}_temp_path {prefix / n};" for n in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                         "scgi"))
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(f"""\
{"user root;" if os.geteuid() == 0 else ""}
worker_processes {worker_processes};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    default_type application/octet-stream;
    access_log {prefix}/access.log;
{temps}
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    server_tokens off;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.www};
    }}
}}
""")
        self.proc: subprocess.Popen | None = None

    def start(self) -> StaticNginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        command = [binary, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.prefix / "error.log")]
        subprocess.run([*command, "-t", "-q"], check=True, capture_output=True, timeout=30)
        self.proc = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1):
                    pass
                return self
            except urllib.error.HTTPError:
                return self  # 403/404 for "/": listening
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"static nginx did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_workers(pid: int, count: int, timeout: float = 20.0) -> None:
    """Until the run.py master has ``count`` worker children (then a moment for their loops to start)."""
    deadline = time.monotonic() + timeout
    while len(psutil.Process(pid).children()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run.py --processes {count}: workers did not start")
        time.sleep(0.1)
    time.sleep(1.0)


@contextlib.contextmanager
def start_target(name: str, tree: Path | None, scratch: Path, args: argparse.Namespace,
                 tag: str) -> Iterator[Running]:
    """The target's servers, started from ``tree`` (None: this checkout), seeded for the mode."""
    quiet = ["--log-level", "WARNING"]
    stop: list[Callable[[], object]] = []
    try:
        yield _start_target(name, tree, scratch, args, tag, quiet, stop)
    except Exception:
        for log in sorted(scratch.rglob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            if tail:
                print(f"--- {log.relative_to(scratch)} (last lines)\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        for fn in reversed(stop):
            fn()


def _start_target(name: str, tree: Path | None, scratch: Path, args: argparse.Namespace, tag: str,
                  quiet: list[str], stop: list[Callable[[], object]]) -> Running:
    if name == "static":
        static = StaticNginx(scratch / "static")
        body = seed_body(0, args.size, tag, binary=True)
        (static.www / "i" / SEED_NAME).write_bytes(body)
        stop.append(static.stop)
        static.start()
        assert static.proc is not None
        running = Running(static.url, nginx=[static.proc.pid], seeded=[f"/i/{SEED_NAME}"])
        check_download(running.url, running.seeded[0], body)
        return running
    if name in ("one", "two"):
        extra = quiet + (["--processes", "2"] if name == "two" else [])
        server = ServerProcess(scratch / "data", extra_args=extra, log_path=scratch / "server.log", root=tree)
        stop.append(server.stop)
        server.start()
        assert server.proc is not None
        if name == "two":
            wait_workers(server.proc.pid, 2)
        running = Running(server.url, app=[server.proc.pid])
    else:
        # nginx's per-IP limit_conn/limit_req zones would refuse most clients too: exempt the load generator.
        stack = Stack(scratch / "stack", backends=2, max_upload_size=1 << 30, worker_processes=2,
                      extra_args=quiet, nginx_values={"limit_exempt": ["default 0", "127.0.0.1 1"]},
                      app_root=tree)
        stop.append(stack.stop)
        stack.start()
        assert stack.nginx.proc is not None
        running = Running(stack.url, app=[b.proc.pid for b in stack.backends if b.proc is not None],
                          nginx=[stack.nginx.proc.pid])
    if args.mode == "mixed":
        running.seeded = seed_files(running.url, args.seed_files, args.size, tag)
    elif args.mode == "download":
        running.seeded = seed_files(running.url, 1, args.size, tag, binary=True)
        check_download(running.url, running.seeded[0], seed_body(0, args.size, tag, binary=True))
        running.seeded = [route_path(running.url, running.seeded[0], args.route)]
    return running


def route_path(url: str, i_path: str, route: str) -> str:
    """The path ``--route`` names for the seeded file (its /i/ path is ``i_path``)."""
    filehash = i_path.rsplit("/", 1)[1]
    if route == "i":
        return i_path
    if route == "healthz":
        return "/healthz"
    if route == "preview":
        return f"/p/{filehash}"
    meta = f"/api/v1/files/{filehash}"
    if route == "meta":
        return meta
    with urllib.request.urlopen(url + meta, timeout=30) as response:  # short: the card names its /s/ link
        return "/s/" + json.loads(response.read())["url_s"].rsplit("/", 1)[1]


def run_wrk(url: str, paths: list[str], args: argparse.Namespace, connections: int, duration: float,
            label: str) -> dict:
    env = {**os.environ, "BENCH_MODE": args.mode, "BENCH_PATHS": ",".join(paths),
           "BENCH_UPLOAD_RATIO": str(args.upload_ratio), "BENCH_UPLOAD_BYTES": str(args.size),
           "BENCH_RUN": f"{label}-{uuid.uuid4().hex[:8]}", "BENCH_EXPECT": EXPECT[args.mode]}
    threads = max(1, min(os.cpu_count() or 1, connections))
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s",
               "--timeout", f"{args.timeout:g}s", "-s", str(LUA), url]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + args.timeout + 120)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    result = json.loads(line.split(" ", 1)[1])
    seconds = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds
    # Every status >= 400 is in wrk's "status"; with a Lua check, "unexpected" holds those and any other
    # status that is not the expected one (a 200 "already stored" where only 201 may come).
    bad_status = result["unexpected"] if result["checked"] else result["status"]
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "timeout")) + bad_status
    return result


def measure(running: Running, connections: int, args: argparse.Namespace, label: str) -> dict:
    if args.warmup > 0:
        run_wrk(running.url, running.seeded, args, connections, args.warmup, label + "-warmup")
    overflow0 = tcp_counters()
    app0, nginx0 = tree_cpu(running.app), tree_cpu(running.nginx)
    wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_wrk(running.url, running.seeded, args, connections, args.duration, label)
    wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    app1, nginx1 = tree_cpu(running.app), tree_cpu(running.nginx)
    overflow1 = tcp_counters()
    n = max(1, result["requests"])
    result["app_cpu_s"] = app1 - app0
    result["nginx_cpu_s"] = nginx1 - nginx0
    result["wrk_cpu_s"] = (wrk1.ru_utime - wrk0.ru_utime) + (wrk1.ru_stime - wrk0.ru_stime)
    result["app_ms_per_req"] = result["app_cpu_s"] * 1000 / n if running.app else None
    result["nginx_ms_per_req"] = result["nginx_cpu_s"] * 1000 / n if running.nginx else None
    result["server_ms_per_req"] = (result["app_cpu_s"] + result["nginx_cpu_s"]) * 1000 / n
    result["wrk_ms_per_req"] = result["wrk_cpu_s"] * 1000 / n
    result["tcp"] = {k: overflow1.get(k, 0) - v for k, v in overflow0.items()}
    return result


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(label: str, r: dict) -> str:
    cpu = f"app CPU {fmt_ms(r['app_ms_per_req'])} ms/req"
    if r["nginx_ms_per_req"] is not None:
        cpu = (f"{cpu}, nginx CPU {fmt_ms(r['nginx_ms_per_req'])} ms/req" if r["app_ms_per_req"] is not None
               else f"nginx CPU {fmt_ms(r['nginx_ms_per_req'])} ms/req")
    status = f"status {r['status']}" + (f", unexpected {r['unexpected']}" if r["checked"] else "")
    line = (f"{label:<54} {r['rps']:>8.0f} req/s  p50 {r['p50_us'] / 1000:>7.1f} ms  "
            f"p99 {r['p99_us'] / 1000:>7.1f} ms  errors {r['errors']} "
            f"(connect {r['connect']}, read {r['read']}, write {r['write']}, {status}, "
            f"timeout {r['timeout']})  {cpu}  (wrk {r['wrk_ms_per_req']:.2f} ms/req)  requests {r['requests']}")
    tcp = r["tcp"]
    if tcp.get("ListenOverflows") or tcp.get("SyncookiesFailed"):
        line += (f"\n    listen queue (system-wide counters): {tcp.get('ListenOverflows', 0)} overflows, "
                 f"{tcp.get('SyncookiesSent', 0)} SYN cookies sent, {tcp.get('SyncookiesFailed', 0)} failed")
        if r["read"] and tcp.get("SyncookiesFailed"):
            line += (" -> the kernel reset those connections (wrk read errors): the server's listen backlog "
                     "is too small for this many connections at once")
    if r["unexpected_sample"]:
        line += f"\n    first unexpected answer: {r['unexpected_sample']!r}"
    return line


def median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(phases: list[dict]) -> dict:
    return {k: median_or_none([p[k] for p in phases])
            for k in ("rps", "p50_us", "p99_us", "app_ms_per_req", "nginx_ms_per_req", "server_ms_per_req")} | {
        "errors": sum(p["errors"] for p in phases), "rounds": len(phases)}


def find(summary: list[dict], conns: int, target: str, side: str) -> dict:
    return next(x for x in summary if x["connections"] == conns and x["target"] == target and x["side"] == side)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"x{a / b:.2f}"


def parse_list(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if allowed is not None:
        unknown = [x for x in items if x not in allowed]
        if unknown:
            raise SystemExit(f"unknown target(s) {unknown}; choose from {','.join(allowed)}")
    return items


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=MODES, default="mixed")
    p.add_argument("--targets", help="comma-separated subset of one,two,nginx,static (default: per mode)")
    p.add_argument("--connections", help="comma-separated wrk connection counts, each a phase "
                                         "(default: 200; upload mode 200,1000)")
    p.add_argument("--duration", type=float, default=30, help="seconds measured per phase")
    p.add_argument("--warmup", type=float, default=0, help="seconds of unmeasured load before each phase")
    p.add_argument("--rounds", type=int, default=1, help="repeat every phase (ABAB with --baseline-ref)")
    p.add_argument("--baseline-ref", help="also run every target from this git ref (a temporary worktree)")
    p.add_argument("--upload-ratio", type=float, default=0.5, help="mixed mode: share of requests that are uploads")
    p.add_argument("--size", type=int, default=100 * 1024, help="bytes per upload / seeded file")
    p.add_argument("--seed-files", type=int, default=50, help="mixed mode: files seeded for the downloads")
    p.add_argument("--timeout", type=float, default=30, help="wrk's per-request timeout, seconds")
    p.add_argument("--route", choices=ROUTES, default="i",
                   help="download mode: what the clients GET of the seeded file (i: /i/ (default), healthz, "
                        "meta: /api/v1/files/<filehash>, short: the /s/ redirect, preview: /p/)")
    args = p.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx"):
        print("bench/load.py needs wrk and nginx (make setup-system)", file=sys.stderr)
        return 2
    targets = parse_list(args.targets or DEFAULT_TARGETS[args.mode], TARGETS)
    if "static" in targets and (args.mode != "download" or args.route != "i"):
        print("note: the static target is the download limit; skipped in this mode", file=sys.stderr)
        targets.remove("static")
    connections = [int(x) for x in parse_list(args.connections or DEFAULT_CONNECTIONS[args.mode])]
    if not targets or not connections or args.rounds < 1:
        raise SystemExit("nothing to run")
    # wrk, nginx (client + upstream sockets) and the servers all hold one descriptor per connection.
    nofile = raise_nofile(4 * max(connections) + 1000)
    # All the clients are 127.0.0.1: this measures throughput, not the per-IP abuse limits
    # (rate limits, concurrent uploads per client), which would refuse most of them.
    os.environ.setdefault("TORNADO_PASTE_RATELIMIT_EXEMPT", "127.0.0.1")
    os.environ.setdefault("TORNADO_PASTE_UPLOAD_MAX_PER_CLIENT", "0")
    tag = uuid.uuid4().hex[:8]

    what = {"mixed": f"{args.upload_ratio:.0%} raw PUT uploads of {args.size} B (each unique), the rest /i/ "
                     f"downloads of {args.seed_files} seeded files",
            "upload": f"multipart POST uploads of {args.size} B (each unique, 201 expected)",
            "download": f"GET {args.route} of one seeded {args.size} B file"}[args.mode]
    print(f"mode {args.mode}: {what}; {args.duration:g} s per phase, connections {connections}, targets "
          f"{','.join(targets)}, rounds {args.rounds}; cores {os.cpu_count()}, ulimit -n {nofile}", flush=True)

    phases: list[dict] = []
    with baseline.maybe_checkout(args.baseline_ref) as tree, tempfile.TemporaryDirectory(prefix="tp-load-") as tmp:
        if tree is not None:
            print(f"baseline: {baseline.describe(args.baseline_ref)} checked out at {tree}; current: {ROOT}",
                  flush=True)
        sides: list[tuple[str, Path | None]] = ([("baseline", tree)] if tree is not None else []) + [("current", None)]
        for round_ in range(args.rounds):
            for conns in connections:
                for target in targets:
                    # nginx serving a file does not depend on the tree: one phase per round.
                    for side, root in ([("limit", None)] if target == "static" else sides):
                        scratch = Path(tmp) / f"{side}-{target}-{conns}-{round_}"
                        scratch.mkdir()
                        shown_side = f" {side}" if tree is not None and target != "static" else ""
                        label = f"[{args.mode} c={conns}]{shown_side} {target} ({LABELS[target]})"
                        with start_target(target, root, scratch, args, tag) as running:
                            time.sleep(0.5)
                            result = measure(running, conns, args, f"{side}-{target}")
                        shutil.rmtree(scratch, ignore_errors=True)
                        result.update(mode=args.mode, connections=conns, target=target, side=side, round=round_)
                        phases.append(result)
                        print(report(label, result), flush=True)

    # Summary: medians over the rounds; ratios current/baseline and to the static limit.
    print(f"\nsummary ({args.rounds} round(s){', medians' if args.rounds > 1 else ''}):")
    summary: list[dict] = []
    for conns in connections:
        limit = [ph for ph in phases if ph["connections"] == conns and ph["target"] == "static"]
        limit_s = summarise(limit) if limit else None
        for target in targets:
            for side in ("limit",) if target == "static" else [s for s, _ in sides]:
                group = [ph for ph in phases if ph["connections"] == conns and ph["target"] == target
                         and ph["side"] == side]
                s = summarise(group) | {"connections": conns, "target": target, "side": side}
                line = (f"  c={conns:<5} {side:<8} {target:<6} {s['rps']:>8.0f} req/s  "
                        f"p50 {s['p50_us'] / 1000:.1f} ms  p99 {s['p99_us'] / 1000:.1f} ms  errors {s['errors']}  "
                        f"app {fmt_ms(s['app_ms_per_req'])} ms/req  nginx {fmt_ms(s['nginx_ms_per_req'])} ms/req")
                if limit_s and target != "static":
                    s["rps_vs_static"] = s["rps"] / limit_s["rps"] if limit_s["rps"] else None
                    s["cpu_vs_static"] = (s["server_ms_per_req"] / limit_s["server_ms_per_req"]
                                          if limit_s["server_ms_per_req"] else None)
                    line += (f"  vs static: req/s {ratio(s['rps'], limit_s['rps'])}, server CPU/req "
                             f"{ratio(s['server_ms_per_req'], limit_s['server_ms_per_req'])}")
                print(line)
                summary.append(s)
            if tree is not None and target != "static":
                cur, base = (find(summary, conns, target, "current"), find(summary, conns, target, "baseline"))
                r = {"connections": conns, "target": target,
                     "rps": cur["rps"] / base["rps"] if base["rps"] else None,
                     "app_ms_per_req": (cur["app_ms_per_req"] / base["app_ms_per_req"]
                                        if cur["app_ms_per_req"] and base["app_ms_per_req"] else None),
                     "nginx_ms_per_req": (cur["nginx_ms_per_req"] / base["nginx_ms_per_req"]
                                          if cur["nginx_ms_per_req"] and base["nginx_ms_per_req"] else None)}
                cur["vs_baseline"] = r
                nginx_part = (f", nginx CPU/req {ratio(cur['nginx_ms_per_req'], base['nginx_ms_per_req'])}"
                              if cur["nginx_ms_per_req"] is not None else "")
                print(f"  c={conns:<5} current/baseline {target:<6} req/s {ratio(cur['rps'], base['rps'])}, "
                      f"app CPU/req {ratio(cur['app_ms_per_req'], base['app_ms_per_req'])}{nginx_part}")
    one = next((x for x in summary if x["target"] == "one" and x["side"] == "current"), None)
    ngx = next((x for x in summary if x["target"] == "nginx" and x["side"] == "current"), None)
    if args.mode == "mixed" and one and ngx and one["connections"] == ngx["connections"]:
        print(f"  ratio nginx/one (current): throughput {ratio(ngx['rps'], one['rps'])}, "
              f"p50 {ratio(ngx['p50_us'], one['p50_us'])}, p99 {ratio(ngx['p99_us'], one['p99_us'])}")
    errors = sum(ph["errors"] for ph in phases)
    if errors:
        print(f"ERRORS: {errors} in total (must be 0)")
    print("BENCH_JSON " + json.dumps({
        "mode": args.mode, "duration": args.duration, "size": args.size, "connections": connections,
        "targets": targets, "rounds": args.rounds, "baseline_ref": args.baseline_ref, "cores": os.cpu_count(),
        "errors": errors, "summary": summary, "phases": phases}))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
