#!/usr/bin/env python3
"""Scale-out benchmarks on loopback, each against an in-run baseline (docs/scale.md has the figures).

    python bench/scale.py upload     # 1 GiB PUT through the app into S3 / the same bytes put directly
    python bench/scale.py download   # 100 KB and 100 MB in each s3_download mode / nginx straight from the store
    python bench/scale.py processes  # 100 KB uploads: nginx -> two app machines / nginx -> one
    python bench/scale.py all

The object store is a throwaway Ceph RGW (tests/system/s3_server.py, memstore: the bytes live in the
OSD's RAM), MongoDB the nx-27017 wire server where two machines need one. Every process shares the
same cores: the ratios are what to read, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import LUA  # noqa: E402
from tests.helpers import ServerProcess, free_port  # noqa: E402
from tests.nginx_stack import NginxProcess  # noqa: E402
from tests.system.mongo_wire import MongoWireServer  # noqa: E402
from tests.system.s3_server import S3Server  # noqa: E402
from tests.system.scale_stack import ScaleStack, machine_env  # noqa: E402

MIB = 1 << 20
PART = 8 * MIB


def app(tmp: Path, s3: S3Server, mode: str = "proxy", data: Path | None = None, prefix: str = "bench/",
        **extra: str) -> ServerProcess:
    """One app process with its blobs in the bucket and SQLite metadata in its data dir."""
    env = machine_env(s3, "", "", prefix, mode, **extra)
    del env["TORNADO_PASTE_MONGO_URL"], env["TORNADO_PASTE_MONGO_DATABASE"]
    env["TORNADO_PASTE_S3_PART_SIZE"] = str(PART)
    data = data or tmp / f"app-{mode}" / "data"
    proc = ServerProcess(data, env=env, log_path=tmp / f"app-{mode}-{free_port()}.log",
                         extra_args=["--max-upload-size", "2G", "--log-level", "WARNING", "--behind-proxy"])
    return proc.start(timeout=60)


class Peak:
    """Peak RSS of a process, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.proc, self.peak, self._done = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._done.wait(0.02)

    def __enter__(self) -> Peak:
        self.peak = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)


class Cpu:
    """CPU seconds (user + system) that named processes spend between ``start`` and ``stop``."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.procs = {name: [psutil.Process(pid) for pid in group] for name, group in pids.items()}
        self.used: dict[str, float] = {}

    @staticmethod
    def _total(procs: list[psutil.Process]) -> float:
        total = 0.0
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def start(self) -> Cpu:
        self._before = {name: self._total(group) for name, group in self.procs.items()}
        return self

    def stop(self) -> dict[str, float]:
        self.used = {name: round(self._total(group) - self._before[name], 2) for name, group in self.procs.items()}
        return self.used


def nginx_pids(nginx: NginxProcess) -> list[int]:
    assert nginx.proc is not None
    return [nginx.proc.pid, *nginx.worker_pids()]


# -- 1 GiB upload --------------------------------------------------------------------------------------

async def direct_put(s3: S3Server, path: Path, key: str, concurrency: int = 2) -> float:
    """The baseline: the same file put as a multipart upload (same part size and parts in flight)."""
    from tornado_paste.storage.blobs.s3_client import S3Config, S3Connection

    conn = S3Connection(S3Config(bucket=s3.bucket, endpoint_url=s3.endpoint_url, access_key=s3.access_key,
                                 secret_key=s3.secret_key))
    await conn.open()
    client, loop = conn.client, asyncio.get_running_loop()
    size = path.stat().st_size
    started = time.perf_counter()
    upload = (await client.create_multipart_upload(Bucket=s3.bucket, Key=key))["UploadId"]
    limit = asyncio.Semaphore(concurrency)

    def read(offset: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(PART)

    async def part(number: int, offset: int) -> dict:
        async with limit:
            data = await loop.run_in_executor(None, read, offset)
            answer = await client.upload_part(Bucket=s3.bucket, Key=key, PartNumber=number, UploadId=upload, Body=data)
            return {"PartNumber": number, "ETag": answer["ETag"]}

    parts = await asyncio.gather(*(part(i + 1, o) for i, o in enumerate(range(0, size, PART))))
    await client.complete_multipart_upload(Bucket=s3.bucket, Key=key, UploadId=upload,
                                           MultipartUpload={"Parts": list(parts)})
    elapsed = time.perf_counter() - started
    await client.delete_object(Bucket=s3.bucket, Key=key)
    await conn.close()
    return elapsed


def bench_upload(tmp: Path, s3: S3Server, size: int) -> dict:
    source = tmp / "big.bin"
    with open(source, "wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
    direct = asyncio.run(direct_put(s3, source, "bench/direct.bin"))
    s3.gc()
    server = app(tmp, s3, "proxy")
    try:
        idle = psutil.Process(server.proc.pid).memory_info().rss
        with Peak(server.proc.pid) as peak:
            started = time.perf_counter()
            out = subprocess.run(["curl", "-sS", "-T", str(source), "-H", "Accept: application/json",
                                  f"{server.url}/big.bin"], capture_output=True, timeout=600, check=True)
            through = time.perf_counter() - started
        card = json.loads(out.stdout)
        assert card["size"] == size, card
    finally:
        server.stop()
    s3.gc()
    source.unlink()
    return {"bytes": size, "direct_s": direct, "app_s": through, "ratio": through / direct,
            "app_mib_s": size / MIB / through, "direct_mib_s": size / MIB / direct,
            "rss_idle_mb": idle / 1e6, "rss_peak_mb": peak.peak / 1e6}


# -- downloads -----------------------------------------------------------------------------------------

BASELINE_CONF = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/cb; proxy_temp_path {prefix}/px; fastcgi_temp_path {prefix}/fc;
    uwsgi_temp_path {prefix}/uw; scgi_temp_path {prefix}/sc;
    server {{
        listen 127.0.0.1:{port};
        # The baseline: nginx proxying the object straight from the store (a presigned GET).
        location / {{
            proxy_pass {rgw};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }}
    }}
}}
"""


def fetch_all(port: int, paths: list[str], threads: int, follow: bool = False) -> int:
    """GET every path (threads with keep-alive connections); a 307 is followed; returns bytes read."""
    local = threading.local()

    def conn(host: str, p: int) -> http.client.HTTPConnection:
        key = (host, p)
        cache = local.__dict__.setdefault("conns", {})
        if key not in cache:
            cache[key] = http.client.HTTPConnection(host, p, timeout=60)
        return cache[key]

    def get(path: str) -> int:
        c = conn("127.0.0.1", port)
        c.request("GET", path)
        response = c.getresponse()
        body = response.read()
        if response.status == 307 and follow:
            target = urllib.parse.urlsplit(response.headers["Location"])
            c2 = conn(target.hostname, target.port)
            c2.request("GET", f"{target.path}?{target.query}")
            answer = c2.getresponse()
            body = answer.read()
            assert answer.status == 200, answer.status
        else:
            assert response.status == 200, (response.status, body[:200])
        return len(body)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(get, paths))


def bench_download(tmp: Path, s3: S3Server, seconds: float) -> dict:
    data_dir = tmp / "shared" / "data"  # three processes, one SQLite file: one machine, three modes
    servers = {mode: app(tmp, s3, mode, data=data_dir, prefix="dl/") for mode in ("proxy", "redirect", "accel")}
    nginx = NginxProcess(tmp / "nginx-app", [servers["accel"].port], tmp / "none", 2 << 30,
                         extra_values={"object_store": f"proxy_pass {s3.endpoint_url}/",
                                       "limit_exempt": ["default 0", "127.0.0.1 1"]}).start()
    base_prefix = tmp / "nginx-base"
    for name in ("cb", "px", "fc", "uw", "sc"):
        (base_prefix / name).mkdir(parents=True, exist_ok=True)
    base_port = free_port()
    (base_prefix / "nginx.conf").write_text(BASELINE_CONF.format(prefix=base_prefix, port=base_port,
                                                                 rgw=s3.endpoint_url))
    baseline = subprocess.Popen([nginx.binary, "-p", str(base_prefix), "-c", str(base_prefix / "nginx.conf"),
                                 "-g", "daemon off;"], start_new_session=True)
    results: dict = {}
    try:
        time.sleep(0.5)
        for label, size, threads in (("100KB", 100_000, 4), ("100MB", 100 * MIB, 1)):
            body = os.urandom(size)
            conn = http.client.HTTPConnection("127.0.0.1", servers["proxy"].port, timeout=120)
            conn.request("PUT", f"/{label}.bin", body=body, headers={"Accept": "application/json"})
            card = json.loads(conn.getresponse().read())
            conn.close()
            sha = hashlib.sha256(body).hexdigest()
            path = "/i/" + card["filehash"]
            presigned = asyncio.run(presign(s3, f"dl/blobs/{sha}"))
            runs = {"baseline (nginx -> store)": (base_port, presigned, False),
                    "proxy": (servers["proxy"].port, path, False),
                    "redirect": (servers["redirect"].port, path, True),
                    "accel (nginx)": (nginx.port, path, False)}
            row = {}
            for name, (port, target, follow) in runs.items():
                fetch_all(port, [target] * threads, threads, follow)  # warm up
                mode = name.split(" ")[0]
                cpu = Cpu({"app": [servers[mode].proc.pid] if mode in servers else [],
                           "store": list(s3.pids.values()), "nginx": [*nginx_pids(nginx), baseline.pid,
                                     *(c.pid for c in psutil.Process(baseline.pid).children())]}).start()
                count, done, started = 0, 0, time.perf_counter()
                batch = max(threads, 20 if size < MIB else 1)
                while time.perf_counter() - started < seconds:
                    done += fetch_all(port, [target] * batch, threads, follow)
                    count += batch
                elapsed = time.perf_counter() - started
                used = cpu.stop()
                row[name] = {"req_s": count / elapsed, "mib_s": done / MIB / elapsed,
                             "cpu_ms_per_request": {k: round(v * 1000 / count, 2) for k, v in used.items()}}
            base = row["baseline (nginx -> store)"]["req_s"]
            for value in row.values():
                value["ratio"] = value["req_s"] / base
            results[label] = row
    finally:
        baseline.terminate()
        baseline.wait(10)
        nginx.stop()
        for server in servers.values():
            server.stop()
    return results


async def presign(s3: S3Server, key: str) -> str:
    from tornado_paste.storage.blobs.s3_client import S3Config, S3Connection

    conn = S3Connection(S3Config(bucket=s3.bucket, endpoint_url=s3.endpoint_url, access_key=s3.access_key,
                                 secret_key=s3.secret_key))
    await conn.open()
    url = await conn.client.generate_presigned_url("get_object", Params={"Bucket": s3.bucket, "Key": key},
                                                   ExpiresIn=3600)
    await conn.close()
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


# -- one machine vs two ------------------------------------------------------------------------------

def run_wrk(url: str, seconds: int, connections: int, tag: str) -> dict:
    env = {**os.environ, "BENCH_PATHS": "", "BENCH_UPLOAD_RATIO": "1", "BENCH_UPLOAD_BYTES": "102400",
           "BENCH_RUN": tag}
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s",
                          "-s", str(LUA), url], env=env, capture_output=True, text=True, timeout=seconds + 120)
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT "))
    result = json.loads(line.split(" ", 1)[1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def bench_processes(tmp: Path, s3: S3Server, mongo_url: str, mongo_pid: int, seconds: int,
                    connections: int) -> dict:
    results = {}
    for count in (1, 2):
        stack = ScaleStack(tmp / f"machines{count}", s3, mongo_url, modes=["accel"] * count,
                           behind_nginx=list(range(count)), max_upload_size=1 << 30,
                           extra_env={"TORNADO_PASTE_UPLOAD_MAX_PER_CLIENT": "0", "TORNADO_PASTE_LOG_LEVEL": "WARNING"})
        stack.start()
        try:
            run_wrk(stack.public_url, 2, connections, f"warm{count}")
            assert stack.nginx is not None
            cpu = Cpu({"apps": [m.proc.pid for m in stack.machines if m.proc], "mongodb (nx-27017)": [mongo_pid],
                       "store (rgw, osd, mon)": list(s3.pids.values()), "nginx": nginx_pids(stack.nginx)}).start()
            result = run_wrk(stack.public_url, seconds, connections, f"run{count}")
            result["cpu_s"] = cpu.stop()
            results[f"{count} machine(s)"] = result
        finally:
            stack.stop()
    one, two = results["1 machine(s)"]["rps"], results["2 machine(s)"]["rps"]
    results["ratio"] = two / one
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=["upload", "download", "processes", "all"])
    p.add_argument("--upload-size", type=int, default=1 << 30)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=32)
    args = p.parse_args()
    for tool in ("curl", "nginx", "wrk"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"bench/scale.py needs {tool} (make setup-system)", file=sys.stderr)
            return 2
    out: dict = {"cores": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="tp-scale-") as name:
        tmp = Path(name)
        with S3Server.start(tmp / "s3") as s3:
            if args.which in ("upload", "all"):
                r = out["upload"] = bench_upload(tmp, s3, args.upload_size)
                print(f"upload {r['bytes'] / MIB:.0f} MiB: app {r['app_s']:.2f} s ({r['app_mib_s']:.0f} MiB/s), "
                      f"direct S3 multipart {r['direct_s']:.2f} s ({r['direct_mib_s']:.0f} MiB/s): "
                      f"ratio {r['ratio']:.2f}x (target <= 1.3); app RSS idle {r['rss_idle_mb']:.0f} MB, "
                      f"peak {r['rss_peak_mb']:.0f} MB (target < 150)")
            if args.which in ("download", "all"):
                out["download"] = bench_download(tmp, s3, args.seconds)
                for size, row in out["download"].items():
                    for mode, r in row.items():
                        print(f"download {size} {mode:<26} {r['req_s']:8.1f} req/s {r['mib_s']:8.1f} MiB/s "
                              f"ratio {r['ratio']:.2f}x  CPU ms/request {r['cpu_ms_per_request']}")
            if args.which in ("processes", "all"):
                with MongoWireServer.start(tmp / "mongo") as mongo:
                    assert mongo.pid is not None
                    r = out["processes"] = bench_processes(tmp, s3, mongo.url, mongo.pid, int(args.seconds * 2),
                                                           args.connections)
                for label in ("1 machine(s)", "2 machine(s)"):
                    x = r[label]
                    print(f"100 KB uploads, nginx -> {label}: {x['rps']:.0f} req/s, p50 {x['p50_us'] / 1000:.0f} ms, "
                          f"p99 {x['p99_us'] / 1000:.0f} ms, errors {x['errors']}; CPU s: {x['cpu_s']}")
                print(f"two machines / one: {r['ratio']:.2f}x (target >= 1.7)")
    out["load_after"] = os.getloadavg()
    print("BENCH_JSON " + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
