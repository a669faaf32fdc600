"""Test helpers shared by every suite: real server processes, system tools, multipart bodies."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(*names: str) -> str:
    """Path of the first tool found; skip locally (with the reason) or fail under CI=true."""
    for name in names:
        path = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if path:
            return path
    reason = f"system tool not installed: {' or '.join(names)} (run `make setup-system`)"
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def require(ok: bool, reason: str) -> None:
    """Skip locally (with the reason) or fail under CI=true unless ``ok``: for needs that are not one tool
    on PATH (a set of daemons, a package)."""
    if ok:
        return
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ports_free(first: int, count: int) -> bool:
    """Whether ``count`` consecutive loopback ports from ``first`` can all be bound now."""
    socks: list[socket.socket] = []
    try:
        for offset in range(count):
            sock = socket.socket()
            socks.append(sock)
            sock.bind(("127.0.0.1", first + offset))
        return True
    except OSError:
        return False
    finally:
        for sock in socks:
            sock.close()


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports (for --port-per-process)."""
    for _ in range(50):
        first = free_port()
        if ports_free(first, count):
            return first
    raise RuntimeError("no consecutive free ports")


def wait_for_http(url: str, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


class ServerProcess:
    """``python run.py`` in a subprocess on a free loopback port, as an operator would start it.

    ``root`` is the source tree to run (default: this checkout). Another tree (a benchmark's baseline
    checkout) runs its own run.py with that tree as the working directory and the only PYTHONPATH
    entry, so its own ``tornado_paste``/``handlers``/``settings`` are the ones imported.
    """

    def __init__(self, data_dir: Path, port: int | None = None, extra_args: Iterable[str] = (),
                 env: dict[str, str] | None = None, log_path: Path | None = None,
                 root: Path | None = None) -> None:
        self.port = port or free_port()
        self.data_dir = Path(data_dir)
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = Path(root) if root is not None else ROOT
        self.args = [sys.executable, str(self.root / "run.py"), "--address", "127.0.0.1", "--port", str(self.port),
                     "--data-dir", str(self.data_dir), "--base-url", self.url, *extra_args]
        base_env = dict(os.environ)
        if root is not None:
            # A benchmark baseline's own packages (bench/baseline.py EXTRA_SITE) come after its tree.
            extra = self.root / ".bench-site"
            base_env["PYTHONPATH"] = os.pathsep.join([str(self.root)] + ([str(extra)] if extra.is_dir() else []))
        self.env = {**base_env, **(env or {})}
        self.log_path = log_path or (self.data_dir.parent / f"server-{self.port}-{uuid.uuid4().hex[:6]}.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, cwd=self.root, env=self.env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_http(self.url + "/healthz", timeout, self.proc)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the whole process group (workers included)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log_file.close()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def multipart_body(fields: dict[str, str] | None = None, files: dict[str, tuple[str, bytes, str]] | None = None,
                   boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type (files: name -> (filename, data, type))."""
    boundary = boundary or "----tp" + uuid.uuid4().hex
    out = bytearray()
    for name, value in (fields or {}).items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, (filename, data, ctype) in (files or {}).items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
