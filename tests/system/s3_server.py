"""A real S3-compatible server for tests: a throwaway single-node Ceph cluster with RADOS Gateway.

Self-contained (stdlib + pytest only; botocore only inside :meth:`S3Server.boto_config`).

One mon (msgr v2 + v1 on free loopback ports), one memstore OSD (objects live in the OSD's RAM),
one radosgw (beast frontend on a free loopback port), ``auth = none`` everywhere. Everything --
config, mon/osd data, logs, admin sockets, run dir, crash dir -- lives under the directory given to
:meth:`S3Server.start`; nothing is read from or written to /etc/ceph or /var/lib/ceph (every ceph
tool is called with ``-c <tmp>/ceph.conf`` and ``CEPH_CONF`` pointing there).

Debian packages: ``apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd``
(pulls in ceph-common and ceph-base, which give ``ceph``, ``monmaptool`` and ``radosgw-admin``).

Usage::

    with S3Server.start(tmp_path) as s3:
        session.create_client("s3", endpoint_url=s3.endpoint_url, region_name=s3.region,
                              aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key,
                              config=s3.boto_config())

or the session fixture ``s3_server`` below (skips locally when a tool is missing, fails under CI=true,
through ``tests.helpers.require``). Copied from the colleague's verified infra (helpers/infra/REPORT.md).
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require

TOOLS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "monmaptool")
APT_HINT = "apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd"
# Pools radosgw creates lazily; creating them before radosgw starts keeps the first bucket, the first
# object and the first multipart upload from each waiting a few seconds for a new pool's PGs.
RGW_POOLS = (
    ".rgw.root", "default.rgw.control", "default.rgw.meta", "default.rgw.log",
    "default.rgw.buckets.index", "default.rgw.buckets.data", "default.rgw.buckets.non-ec",
)
# Run by the system python (python3-rados comes with ceph-common): one process and one mon session
# for all the set-up mon commands, instead of ~0.8 s of ``ceph`` CLI start-up per command.
MON_HELPER = r"""
import json, sys, time
import rados
req = json.load(sys.stdin)
deadline = time.monotonic() + req["timeout"]
while True:
    try:
        cluster = rados.Rados(conffile=req["conf"], name="client.admin")
        cluster.connect(timeout=5)
        break
    except rados.Error as exc:
        if time.monotonic() > deadline:
            sys.exit(f"cannot reach the mon: {exc}")
        time.sleep(0.2)
out = {}
def command(cmd):
    ret, buf, status = cluster.mon_command(json.dumps(cmd), b"", timeout=30)
    if ret != 0:
        sys.exit(f"mon command {cmd} failed: {ret} {status}")
    return buf.decode()
if req.get("osd_uuid"):
    out["osd_id"] = command({"prefix": "osd new", "uuid": req["osd_uuid"], "format": "json"})
for pool in req.get("pools", ()):
    command({"prefix": "osd pool create", "pool": pool, "pg_num": 8, "pgp_num": 8})
    command({"prefix": "osd pool application enable", "pool": pool, "app": "rgw"})
if req.get("wait_osd_up"):
    while json.loads(command({"prefix": "osd stat", "format": "json"}))["num_up_osds"] < 1:
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for osd.0 to come up")
        time.sleep(0.2)
cluster.shutdown()
print(json.dumps(out))
"""
BIND_ERRORS = ("Address already in use", "failed to bind", "unable to bind")
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the NUL


class S3ServerError(RuntimeError):
    """The cluster did not come up; the message carries the tail of the relevant log."""


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not glob.glob("/usr/lib/python3/dist-packages/rados*.so") or not os.path.exists("/usr/bin/python3"):
        missing.append("python3-rados")  # the set-up helper runs under /usr/bin/python3
    return missing


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports the kernel says are free now (all held open until all are chosen)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def _new_session() -> None:
    os.setsid()


def _new_session_die_with_parent() -> None:
    """In the child before exec: its own session (so its group can be killed whole) and SIGKILL when
    the parent dies, so a SIGKILLed pytest leaves no cluster behind. Linux fires PDEATHSIG when the
    *thread* that forked exits, so this is only used when starting from the main thread."""
    os.setsid()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --- a minimal AWS SigV4 signer, enough for the fixture's own set-up requests -------------------


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3_request(endpoint_url: str, method: str, path: str, *, access_key: str, secret_key: str,
               region: str, body: bytes = b"", query: str = "", timeout: float = 30.0) -> tuple[int, bytes]:
    """One path-style SigV4-signed request with urllib; returns (status, body) without raising on 4xx/5xx.
    ``query`` must already be canonical (sorted, URI-encoded, ``k=v`` pairs joined by ``&``)."""
    host = endpoint_url.split("://", 1)[1].rstrip("/")
    now = datetime.datetime.now(datetime.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        method, path, query, "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_hash,
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    url = f"{endpoint_url.rstrip('/')}{path}" + (f"?{query}" if query else "")
    req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method,
                                 headers={k: v for k, v in headers.items() if k != "host"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- the cluster ---------------------------------------------------------------------------------


class S3Server:
    """A running mon + memstore OSD + radosgw owned by this object. Use :meth:`start`."""

    def __init__(self, root: Path, *, access_key: str, secret_key: str, region: str, bucket: str | None,
                 rgw_threads: int) -> None:
        self.root = Path(root)
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.bucket = bucket
        self.user = "tester"
        self.rgw_threads = rgw_threads
        self.mon_v2_port, self.mon_v1_port, self.port = free_ports(3)
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.conf = self.root / "ceph.conf"
        self.log_dir = self.root / "log"
        # Admin sockets must fit sun_path; a deep pytest basetemp can be too long for that.
        run_dir = self.root / "run"
        self._short_run_dir: Path | None = None
        if len(str(run_dir / "ceph-client.rgw.123456.123456789012345.asok")) > UNIX_PATH_MAX:
            self._short_run_dir = Path(tempfile.mkdtemp(prefix="s3rgw-"))
            run_dir = self._short_run_dir
        self.run_dir = run_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.timings: dict[str, float] = {}
        self.env = {**os.environ, "CEPH_CONF": str(self.conf)}
        self.env.pop("CEPH_ARGS", None)
        self.fsid = str(uuid.uuid4())

    # -- public API --

    @classmethod
    def start(cls, tmpdir: str | os.PathLike[str], *, bucket: str | None = "test-bucket",
              access_key: str | None = None, secret_key: str | None = None, region: str = "us-east-1",
              timeout: float = 90.0, rgw_threads: int = 64, precreate_pools: bool = True) -> S3Server:
        """Bootstrap a fresh cluster under ``tmpdir`` (created if needed; must be empty or new), create the
        S3 user (fixed or generated keys) and, unless ``bucket`` is None, that bucket. Raises
        :class:`S3ServerError` (after cleaning up) when something does not come up within ``timeout``."""
        missing = missing_tools()
        if missing:
            raise S3ServerError(f"missing {', '.join(missing)} (Debian: {APT_HINT})")
        root = Path(tmpdir)
        root.mkdir(parents=True, exist_ok=True)
        if (root / "ceph.conf").exists():
            raise S3ServerError(f"{root} already holds a cluster; give each start a new directory")
        access_key = access_key or "TP" + uuid.uuid4().hex[:18].upper()
        secret_key = secret_key or uuid.uuid4().hex + uuid.uuid4().hex[:8]
        for attempt in range(3):
            # A port taken between free_ports() and the daemon's bind: start over in a fresh subdir.
            server = cls(root if attempt == 0 else root / f"retry{attempt}", access_key=access_key,
                         secret_key=secret_key, region=region, bucket=bucket, rgw_threads=rgw_threads)
            try:
                server._bootstrap(time.monotonic() + timeout, precreate_pools)
                return server
            except S3ServerError as exc:
                server.stop()
                if attempt == 2 or not any(m in str(exc) for m in BIND_ERRORS):
                    raise
            except BaseException:
                server.stop()
                raise
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop radosgw, then the OSD, then the mon (SIGTERM to each process group, SIGKILL after a
        short grace). Idempotent; leaves the data dir (logs) in place."""
        for name in ("rgw", "osd", "mon"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                self._kill_group(proc, timeout=min(timeout, 5.0))
        if self._short_run_dir is not None:
            shutil.rmtree(self._short_run_dir, ignore_errors=True)
            self._short_run_dir = None

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def rss_kib(self) -> dict[str, int]:
        """Resident memory of each daemon now, KiB (memstore keeps every stored byte in the OSD's RSS)."""
        return {name: _rss_kib(proc.pid) for name, proc in self.procs.items()}

    def boto_config(self, **kwargs: object):
        """botocore Config with path-style addressing (needed: there is no wildcard DNS for 127.0.0.1)."""
        from botocore.config import Config

        s3 = {"addressing_style": "path", **kwargs.pop("s3", {})}  # type: ignore[dict-item]
        return Config(s3=s3, signature_version="s3v4", **kwargs)

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``session.create_client("s3", **server.client_kwargs())``."""
        return {"endpoint_url": self.endpoint_url, "region_name": self.region,
                "aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key,
                "config": self.boto_config()}

    def request(self, method: str, path: str, **kwargs: object) -> tuple[int, bytes]:
        """A SigV4-signed request as the test user (see :func:`s3_request`)."""
        return s3_request(self.endpoint_url, method, path, access_key=self.access_key,
                          secret_key=self.secret_key, region=self.region, **kwargs)  # type: ignore[arg-type]

    def radosgw_admin(self, *args: str, timeout: float = 30.0) -> str:
        """Run ``radosgw-admin`` against this cluster and return its stdout."""
        return self._run("radosgw-admin", "-c", str(self.conf), *args, timeout=timeout)

    def gc(self) -> None:
        """Reclaim deleted objects' RAM now (memstore) instead of at the next GC period."""
        self.radosgw_admin("gc", "process", "--include-all", timeout=60)

    def ceph(self, *args: str, timeout: float = 30.0) -> str:
        return self._run("ceph", "-c", str(self.conf), "--connect-timeout", "10", *args, timeout=timeout)

    def log_path(self, name: str) -> Path:
        return self.log_dir / {"mon": "ceph-mon.a.log", "osd": "ceph-osd.0.log", "rgw": "ceph-client.rgw.log"}[name]

    # -- internals --

    def _write_conf(self) -> None:
        r = self.root
        for sub in ("mon/ceph-a", "osd/ceph-0", "log", "crash", "rgw", "tmp"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        mon_addrs = f"[v2:127.0.0.1:{self.mon_v2_port},v1:127.0.0.1:{self.mon_v1_port}]"
        self.conf.write_text(f"""[global]
fsid = {self.fsid}
mon_host = {mon_addrs}
mon_initial_members = a
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# Without this the rgw's monclient fails with "get_initial_auth_request returned -13".
ms_mon_client_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_crush_chooseleaf_type = 0
# No mgr, so no pg autoscaler: keep pools small so 7+ rgw pools stay under mon_max_pg_per_osd.
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_max_pg_per_osd = 1000
mon_allow_pool_delete = true
# Each osdmap change (pool create, application enable, osd boot) otherwise waits for the 1 s paxos
# propose interval; this roughly halves start-up.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# The mon shuts itself down when the filesystem under mon_data has under 5% free; do not for tests.
mon_data_avail_crit = 0
mon_data_avail_warn = 1
run_dir = {self.run_dir}
admin_socket = {self.run_dir}/$cluster-$name.$pid.asok
log_file = {r}/log/$cluster-$name.log
log_to_stderr = false
# The mon's cluster and audit logs default to /var/log/ceph/.
mon_cluster_log_file = {r}/log/$cluster.$channel.log
err_to_stderr = true
crash_dir = {r}/crash
mon_data = {r}/mon/$cluster-$id
osd_data = {r}/osd/$cluster-$id
keyring = {r}/keyring
tmp_dir = {r}/tmp
osd_objectstore = memstore
memstore_device_bytes = 4294967296
osd_fast_shutdown = true

[mon]
admin_socket = {self.run_dir}/$cluster-$name.asok

[osd]
admin_socket = {self.run_dir}/$cluster-$name.asok

[client.rgw]
admin_socket = {self.run_dir}/$cluster-$name.asok
rgw_frontends = beast endpoint=127.0.0.1:{self.port}
rgw_data = {r}/rgw
rgw_thread_pool_size = {self.rgw_threads}
rgw_enable_usage_log = false
# memstore keeps every byte in the OSD's RAM; reclaim deleted tail objects soon, not after 2 h.
rgw_gc_obj_min_wait = 0
rgw_gc_processor_period = 30
""")

    def _run(self, *cmd: str, timeout: float = 30.0) -> str:
        try:
            out = subprocess.run(cmd, env=self.env, cwd=self.root, capture_output=True, text=True,
                                 timeout=timeout, check=False, start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise S3ServerError(f"{' '.join(cmd)} timed out after {timeout}s") from exc
        if out.returncode != 0:
            raise S3ServerError(f"{' '.join(cmd)} exited {out.returncode}: {out.stderr.strip()[-2000:]}")
        return out.stdout

    def _mon_helper(self, deadline: float, **request: object) -> dict:
        timeout = max(1.0, deadline - time.monotonic())
        request = {"conf": str(self.conf), "timeout": timeout, **request}
        try:
            out = subprocess.run(["/usr/bin/python3", "-c", MON_HELPER], input=json.dumps(request), env=self.env,
                                 cwd=self.root, capture_output=True, text=True, timeout=timeout + 30,
                                 check=False, start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise S3ServerError(f"mon set-up timed out\n{_tail(self.log_path('mon'))}") from exc
        if out.returncode != 0:
            for name in self.procs:
                self._check_alive(name)
            raise S3ServerError(f"mon set-up failed: {out.stderr.strip()[-2000:]}\n--- mon log ---\n"
                                f"{_tail(self.log_path('mon'))}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def _spawn(self, name: str, *cmd: str) -> subprocess.Popen:
        main = threading.current_thread() is threading.main_thread()
        preexec = _new_session_die_with_parent if main else _new_session
        out = open(self.log_dir / f"{name}.out", "ab")  # noqa: SIM115 - closed when the child is reaped
        try:
            proc = subprocess.Popen(cmd, env=self.env, cwd=self.root, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, preexec_fn=preexec)
        finally:
            out.close()
        self.procs[name] = proc
        return proc

    def _check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            raise S3ServerError(f"{name} exited with {proc.returncode}:\n{_tail(self.log_dir / f'{name}.out')}\n"
                                f"--- log ---\n{_tail(self.log_path(name))}")

    def _wait(self, what: str, name: str, deadline: float, probe) -> None:
        while True:
            self._check_alive(name)
            with contextlib.suppress(S3ServerError, OSError):
                if probe():
                    return
            if time.monotonic() > deadline:
                raise S3ServerError(f"timed out waiting for {what}\n--- {name} log ---\n{_tail(self.log_path(name))}")
            time.sleep(0.2)

    def _bootstrap(self, deadline: float, precreate_pools: bool) -> None:
        t0 = time.monotonic()
        self._write_conf()
        conf = str(self.conf)
        monmap = self.root / "monmap"
        mon_addrs = f"[v2:127.0.0.1:{self.mon_v2_port},v1:127.0.0.1:{self.mon_v1_port}]"
        self._run("monmaptool", "--create", "--fsid", self.fsid, "--addv", "a", mon_addrs, str(monmap))
        self._run("ceph-mon", "-c", conf, "--mkfs", "-i", "a", "--monmap", str(monmap))
        self._spawn("mon", "ceph-mon", "-c", conf, "-i", "a", "-f")
        osd_uuid = str(uuid.uuid4())
        osd_id = json.loads(self._mon_helper(deadline, osd_uuid=osd_uuid)["osd_id"])["osdid"]
        if osd_id != 0:
            raise S3ServerError(f"expected osd id 0, got {osd_id!r}")
        self.timings["mon"] = time.monotonic() - t0

        self._run("ceph-osd", "-c", conf, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, timeout=60)
        self._spawn("osd", "ceph-osd", "-c", conf, "-i", "0", "-f")
        self._mon_helper(deadline, pools=list(RGW_POOLS) if precreate_pools else [], wait_osd_up=True)
        self.timings["osd"] = time.monotonic() - t0

        self._spawn("rgw", "radosgw", "-c", conf, "-n", "client.rgw", "-f")

        def rgw_ready() -> bool:
            with urllib.request.urlopen(self.endpoint_url + "/", timeout=2) as resp:
                return resp.status == 200

        self._wait("radosgw HTTP", "rgw", deadline, rgw_ready)
        self.timings["rgw"] = time.monotonic() - t0

        self.radosgw_admin("user", "create", f"--uid={self.user}", "--display-name=Test user",
                           f"--access-key={self.access_key}", f"--secret-key={self.secret_key}")
        if self.bucket:
            status, body = self.request("PUT", f"/{self.bucket}")
            if status != 200:
                raise S3ServerError(f"create bucket {self.bucket}: HTTP {status} {body[:500]!r}")
        self.timings["total"] = time.monotonic() - t0

    @staticmethod
    def _kill_group(proc: subprocess.Popen, timeout: float) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        # Reap anything else left in the group (the daemons do not fork, but be sure).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _need_tools() -> None:
    missing = missing_tools()
    require(not missing, f"S3 server: {', '.join(missing)} not installed (`make setup-system`, or {APT_HINT})")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One Ceph RGW for the whole session, with user keys and an empty bucket ``test-bucket``.
    Tests that need isolation should use their own key prefix or create their own bucket."""
    _need_tools()
    server = S3Server.start(tmp_path_factory.mktemp("s3_server"))
    try:
        yield server
    finally:
        server.stop()
