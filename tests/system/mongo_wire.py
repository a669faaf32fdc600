"""A MongoDB wire-protocol server for tests: the PyPI package ``nx-27017`` (MongoDB wire protocol on
SQLite via NeoSQLite), started in the foreground on a free loopback port.

Self-contained (stdlib + pytest; pymongo only to check readiness). Each instance keeps its data dir,
``--log-file`` and ``--pid-file`` under the directory given to :meth:`MongoWireServer.start`, so
parallel instances never collide (the package's defaults are /tmp/nx_27017.log and
/tmp/nx_27017.pid, and it refuses to start while that pid file names a live process).

Usage::

    with MongoWireServer.start(tmp_path) as mongo:
        client = AsyncMongoClient(mongo.url)

or the session fixture ``mongo_wire_url`` below (skips locally when nx-27017 is missing, fails under
CI=true). The URL carries ``directConnection=true``: the server's hello has no setName, so drivers see
a standalone.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require

PIP_HINT = "pip install nx-27017"


class MongoWireError(RuntimeError):
    """The server did not come up; the message carries the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def nx_command() -> list[str] | None:
    """How to run nx-27017: $NX_27017_BIN, else this interpreter's module, else the script on PATH."""
    override = os.environ.get("NX_27017_BIN")
    if override:
        return [override]
    if importlib.util.find_spec("nx_27017") is not None:
        # With partialFilterExpression honoured (nx-27017 0.8.1 drops it): see nx_partial.py.
        return [sys.executable, str(Path(__file__).with_name("nx_partial.py"))]
    script = shutil.which("nx-27017") or shutil.which("nx_27017")
    return [script] if script else None


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _new_session() -> None:
    os.setsid()


def _new_session_die_with_parent() -> None:
    """Own session (the group is killed whole) and SIGKILL when the parent dies (Linux fires this when
    the forking *thread* exits, so only used when started from the main thread)."""
    os.setsid()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _ping(url: str, timeout: float) -> None:
    """One ping with PyMongo's AsyncMongoClient, in a private event loop on a private thread (works
    whether or not the calling thread already runs a loop)."""
    from pymongo import AsyncMongoClient

    async def ping() -> None:
        client = AsyncMongoClient(url, serverSelectionTimeoutMS=int(timeout * 1000),
                                  connectTimeoutMS=int(timeout * 1000))
        try:
            await client.admin.command("ping")
        finally:
            await client.close()

    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(ping())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="mongo-wire-ping", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if thread.is_alive():
        raise TimeoutError("ping did not return")
    if errors:
        raise errors[0]


class MongoWireServer:
    """One running ``nx-27017`` owned by this object. Use :meth:`start`."""

    def __init__(self, root: Path, port: int, journal_mode: str, memory: bool) -> None:
        self.root = Path(root)
        self.port = port
        self.host = "127.0.0.1"
        self.url = f"mongodb://{self.host}:{port}/?directConnection=true"
        self.data_dir = self.root / "data"
        self.log_file = self.root / "nx-27017.log"
        self.pid_file = self.root / "nx-27017.pid"
        self.out_file = self.root / "nx-27017.out"
        self.journal_mode = journal_mode
        self.memory = memory
        self.proc: subprocess.Popen | None = None
        self.start_seconds = 0.0

    @classmethod
    def start(cls, tmpdir: str | os.PathLike[str], *, port: int | None = None, timeout: float = 30.0,
              journal_mode: str = "WAL", memory: bool = False, attempts: int = 3) -> MongoWireServer:
        """Start nx-27017 with its data (one SQLite file per database under ``<tmpdir>/data``, or
        in-memory with ``memory=True``), log and pid files in ``tmpdir``; return once an
        AsyncMongoClient ping succeeds. A port lost to a race is retried with a new one."""
        command = nx_command()
        if command is None:
            raise MongoWireError(f"nx-27017 is not installed ({PIP_HINT})")
        root = Path(tmpdir)
        root.mkdir(parents=True, exist_ok=True)
        last: Exception | None = None
        for _ in range(attempts if port is None else 1):
            server = cls(root, port or free_port(), journal_mode, memory)
            try:
                server._launch(command, timeout)
                return server
            except MongoWireError as exc:
                server.stop()
                last = exc
                if "Address already in use" not in str(exc):
                    raise
        assert last is not None
        raise last

    def _launch(self, command: list[str], timeout: float) -> None:
        t0 = time.monotonic()
        if not self.memory:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [*command, "--host", self.host, "--port", str(self.port),
                "--data-dir", "memory" if self.memory else str(self.data_dir),
                "--log-file", str(self.log_file), "--pid-file", str(self.pid_file),
                "--journal-mode", self.journal_mode]
        main = threading.current_thread() is threading.main_thread()
        with self.out_file.open("ab") as out:
            self.proc = subprocess.Popen(args, cwd=self.root, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT,
                                         preexec_fn=_new_session_die_with_parent if main else _new_session)
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                raise MongoWireError(f"nx-27017 exited with {self.proc.returncode}:\n{_tail(self.out_file)}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise MongoWireError(f"nx-27017 did not listen on {self.port}:\n{_tail(self.out_file)}") from None
                time.sleep(0.05)
        try:
            _ping(self.url, max(1.0, deadline - time.monotonic()))
        except Exception as exc:
            raise MongoWireError(f"nx-27017 did not answer ping: {exc!r}\n{_tail(self.out_file)}") from exc
        self.start_seconds = time.monotonic() - t0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def rss_kib(self) -> int:
        return _rss_kib(self.proc.pid) if self.proc else 0

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process group (the server exits and removes its pid file), SIGKILL after
        ``timeout``. Idempotent; the data dir and logs stay."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def __enter__(self) -> MongoWireServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _need_nx() -> None:
    reason = None
    if nx_command() is None:
        reason = f"mongo wire server: nx-27017 not installed ({PIP_HINT})"
    elif importlib.util.find_spec("pymongo") is None:
        reason = "mongo wire server: pymongo not installed"
    require(reason is None, reason or "")


@pytest.fixture(scope="session")
def mongo_wire_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoWireServer]:
    """One nx-27017 for the whole session (tests should use their own database names)."""
    _need_nx()
    server = MongoWireServer.start(tmp_path_factory.mktemp("mongo_wire"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_wire_url(mongo_wire_server: MongoWireServer) -> str:
    """``mongodb://127.0.0.1:<port>/?directConnection=true`` of the session's nx-27017."""
    return mongo_wire_server.url
