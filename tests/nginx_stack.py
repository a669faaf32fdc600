"""The production shape on loopback: the real nginx (rendered from the top-level nginx.conf) in front
of several ``run.py`` processes sharing one data dir and SQLite store. Used by the nginx tests and
by ``bench/load.py``.

Only the lines of nginx.conf marked ``# SITE: <name>`` are replaced (ports, paths, user); every
other directive is tested as shipped.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tests.helpers import ROOT, ServerProcess, free_port

NGINX_CONF = ROOT / "nginx.conf"
ACCEL_PREFIX = "/_blobs/"
# Room nginx allows above the app's limit, matching the shipped config (1G app limit -> 1025m).
MULTIPART_ROOM = 1 << 20
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

_SITE_RE = re.compile(r"^(?P<indent>\s*)(?P<directive>.*?;)\s*#\s*SITE:\s*(?P<name>[a-z_]+)\s*$")


def site_values(text: str) -> dict[str, list[str]]:
    """The per-site directives of a config, by name (``backend`` has one entry per server line)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _SITE_RE.match(line)
        if match:
            found.setdefault(match["name"], []).append(match["directive"].rstrip(";").strip())
    return found


def render_nginx_conf(values: Mapping[str, str | Sequence[str] | None], text: str | None = None) -> str:
    """nginx.conf with the ``# SITE:`` lines named in ``values`` replaced (None or [] drops them)."""
    text = NGINX_CONF.read_text() if text is None else text
    unknown = set(values) - set(site_values(text))
    if unknown:
        raise KeyError(f"nginx.conf has no SITE line named {sorted(unknown)}")
    out: list[str] = []
    done: set[str] = set()
    for line in text.splitlines():
        match = _SITE_RE.match(line)
        if not match or match["name"] not in values:
            out.append(line)
            continue
        name = match["name"]
        if name in done:
            continue  # a repeated line (backend): all replacements went in at the first one
        done.add(name)
        value = values[name]
        directives = [value] if isinstance(value, str) else list(value or [])
        out.extend(f"{match['indent']}{d};  # SITE: {name} (rendered)" for d in directives)
    return "\n".join(out) + "\n"


class NginxProcess:
    """``nginx -p <dir> -c <dir>/nginx.conf -g 'daemon off;'``: a master process the caller owns."""

    def __init__(self, prefix: Path, backends: Iterable[int], blob_dir: Path, max_upload_size: int,
                 port: int | None = None, worker_processes: int = 1,
                 extra_values: Mapping[str, str | Sequence[str] | None] | None = None) -> None:
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.prefix = Path(prefix)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix.mkdir(parents=True, exist_ok=True)
        for name in TEMP_DIRS:
            (self.prefix / name).mkdir(exist_ok=True)
        self.client_body_temp = self.prefix / "client_body"
        self.error_log = self.prefix / "error.log"
        self.access_log = self.prefix / "access.log"
        values: dict[str, str | list[str] | None] = {
            # As root the workers would drop to www-data, which cannot enter pytest's 0700 tmp dirs.
            "user": "user root" if os.geteuid() == 0 else None,
            "worker_processes": f"worker_processes {worker_processes}",
            "pid": f"pid {self.prefix}/nginx.pid",
            "error_log": f"error_log {self.error_log} info",
            "access_log": f"access_log {self.access_log} paste",
            "listen": f"listen 127.0.0.1:{self.port}",
            "backend": [f"server 127.0.0.1:{p} max_fails=3 fail_timeout=10s" for p in backends],
            "client_max_body_size": f"client_max_body_size {max_upload_size + MULTIPART_ROOM}",
            "static_root": f"alias {ROOT}/static/",
            "blob_dir": f"alias {blob_dir}/",
        }
        for name in TEMP_DIRS:
            values[f"{name}_temp_path"] = f"{name}_temp_path {self.prefix / name}"
        values.update(extra_values or {})  # e.g. limit_exempt for a load test from one address
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(render_nginx_conf(values))
        self.proc: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.error_log), *extra]

    def check(self) -> None:
        subprocess.run(self.command("-t", "-q"), check=True, capture_output=True, timeout=30)

    def start(self, timeout: float = 15.0) -> NginxProcess:
        self.check()
        self.proc = subprocess.Popen(self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited {self.proc.returncode}: {self.proc.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nginx did not listen on {self.port}: {self.error_log.read_text()}")

    def worker_pids(self) -> list[int]:
        import psutil

        assert self.proc is not None
        return [child.pid for child in psutil.Process(self.proc.pid).children()]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)


class Stack:
    """N app processes (one data dir, one SQLite file) behind one nginx; ``stop`` tears all down.

    ``root`` is the stack's scratch directory. ``app_root`` is the source tree the app processes run
    (default: this checkout; see ``ServerProcess``). nginx.conf is always this checkout's, whatever
    ``app_root`` is: a benchmark's baseline tree is served through the current nginx.conf.
    """

    def __init__(self, root: Path, backends: int = 2, max_upload_size: int = 256 << 20,
                 worker_processes: int = 1, extra_args: Sequence[str] = (),
                 nginx_values: Mapping[str, str | Sequence[str] | None] | None = None,
                 app_root: Path | None = None) -> None:
        self.root = Path(root)
        self.app_root = app_root
        self.data_dir = self.root / "data"
        self.max_upload_size = max_upload_size
        self.ports = [free_port() for _ in range(backends)]
        self.nginx_port = free_port()
        self.public_url = f"http://127.0.0.1:{self.nginx_port}"
        self.extra_args = list(extra_args)
        self.backends = [self._backend(port) for port in self.ports]
        self.nginx = NginxProcess(self.root / "nginx", self.ports, self.data_dir / "blobs", max_upload_size,
                                  port=self.nginx_port, worker_processes=worker_processes,
                                  extra_values=nginx_values)

    def _backend(self, port: int) -> ServerProcess:
        return ServerProcess(
            self.data_dir, port=port,
            extra_args=["--behind-proxy", "--base-url", self.public_url,
                        "--max-upload-size", str(self.max_upload_size), *self.extra_args],
            env={"TORNADO_PASTE_ACCEL_REDIRECT_PREFIX": ACCEL_PREFIX},
            log_path=self.root / f"app-{port}.log", root=self.app_root)

    @property
    def url(self) -> str:
        return self.nginx.url

    def start(self) -> Stack:
        try:
            for backend in self.backends:
                backend.start()
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def restart_backend(self, index: int) -> ServerProcess:
        """Start a fresh process on a killed backend's port (as supervisord would)."""
        old = self.backends[index]
        old.stop()
        self.backends[index] = self._backend(old.port).start()
        return self.backends[index]

    def app_logs(self) -> str:
        return "".join(b.log_path.read_text(errors="replace") for b in self.backends if b.log_path.exists())

    def stop(self) -> None:
        self.nginx.stop()
        for backend in self.backends:
            if backend.proc is not None:
                backend.stop()


# deploy/compose/nginx.conf is this render of nginx.conf (a unit test keeps the two in step):
#   python -m tests.nginx_stack compose > deploy/compose/nginx.conf
COMPOSE_VALUES: dict[str, str | list[str] | None] = {
    "user": "user nginx",                       # the official nginx image's user
    "pid": "pid /var/run/nginx.pid",
    "error_log": "error_log /dev/stderr warn",  # container logs
    "access_log": "access_log /dev/stdout paste",
    "client_body_temp_path": "client_body_temp_path /var/cache/nginx/client_temp",
    "proxy_temp_path": "proxy_temp_path /var/cache/nginx/proxy_temp",
    "fastcgi_temp_path": "fastcgi_temp_path /var/cache/nginx/fastcgi_temp",
    "uwsgi_temp_path": "uwsgi_temp_path /var/cache/nginx/uwsgi_temp",
    "scgi_temp_path": "scgi_temp_path /var/cache/nginx/scgi_temp",
    "backend": ["server app1:8000 max_fails=3 fail_timeout=10s", "server app2:8000 max_fails=3 fail_timeout=10s"],
    "server_name": "server_name _",
    # The s3 profile's MinIO, resolved per request (Docker's DNS): nginx starts without that profile too.
    "object_store": ["resolver 127.0.0.11 valid=10s ipv6=off", "set $s3_store minio:9000",
                    "rewrite ^/_s3/(.*)$ /$1 break", "proxy_pass http://$s3_store"],
}


def compose_nginx_conf() -> str:
    header = ("# GENERATED from the top-level nginx.conf by `python -m tests.nginx_stack compose`\n"
              "# for deploy/docker-compose.yml; edit nginx.conf, not this file.\n")
    return header + render_nginx_conf(COMPOSE_VALUES)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["compose"]:
        sys.exit("usage: python -m tests.nginx_stack compose > deploy/compose/nginx.conf")
    sys.stdout.write(compose_nginx_conf())


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
            source: str | None = None, timeout: float = 60) -> tuple[http.client.HTTPResponse, bytes]:
    """One HTTP exchange with the stack (from ``source``, a loopback address, when given); never raises on 4xx/5xx."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()
