"""A real StatsD -> carbon-cache -> graphite-web pipeline on free loopback ports, state in one directory.

Used by the metrics tests (through a session fixture) and by ``scripts/metrics_demo.py``. It installs
nothing: StatsD comes from ``make tools-statsd`` (``.tools/``), carbon and graphite-web from Debian.
Retention is 1 s and StatsD flushes every second, so one flush is one whisper point.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, free_port, wait_for_http

STATSD_JS = ROOT / ".tools" / "node_modules" / "statsd" / "stats.js"
SYSTEM_PYTHON = "/usr/bin/python3"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing_tools() -> list[str]:
    """What this machine lacks to run the stack (empty when everything is there)."""
    missing = []
    if not shutil.which("node"):
        missing.append("node (Debian nodejs)")
    if not STATSD_JS.exists():
        missing.append("StatsD daemon in .tools/ (make tools-statsd)")
    if not shutil.which("carbon-cache"):
        missing.append("carbon-cache (Debian graphite-carbon)")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import graphite, django"], capture_output=True) \
        if os.path.exists(SYSTEM_PYTHON) else None
    if probe is None or probe.returncode != 0:
        missing.append("graphite-web for /usr/bin/python3 (Debian graphite-web)")
    return missing


def _system_env(**extra: str) -> dict[str, str]:
    """The environment minus our virtualenv, so system tools see the system's Python packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(venv_bin)
                                  and "/.venv/" not in p)
    env.update(extra)
    return env


CARBON_CONF = """\
[cache]
STORAGE_DIR = {state}/storage
LOCAL_DATA_DIR = {state}/storage/whisper
WHITELISTS_DIR = {state}/storage/lists
CONF_DIR = {state}/conf
LOG_DIR = {state}/log/carbon
PID_DIR = {state}/run
ENABLE_LOGROTATION = False
USER =
DATABASE = whisper
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
MIN_TIMESTAMP_RESOLUTION = 1
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line_port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query_port}
USE_FLOW_CONTROL = True
LOG_UPDATES = False
LOG_CREATES = False
LOG_CACHE_HITS = False
LOG_LISTENER_CONNECTIONS = False
CACHE_WRITE_STRATEGY = sorted
WHISPER_AUTOFLUSH = False
WHISPER_FALLOCATE_CREATE = False
ENABLE_TAGS = False
"""

# Tests keep every flush (1 s) for an hour; the aggregation rules are the production ones.
STORAGE_SCHEMAS = """\
[everything]
pattern = .*
retentions = 1s:1h
"""

GRAPHITE_SETTINGS = """\
# graphite-web settings for the tornado-paste test stack (imported by graphite.settings).
SECRET_KEY = "tornado-paste-tests"
ALLOWED_HOSTS = ["*"]
STORAGE_DIR = {state!r} + "/storage"
WHISPER_DIR = {state!r} + "/storage/whisper/"
INDEX_FILE = {state!r} + "/storage/index"
LOG_DIR = {state!r} + "/log/webapp"
STANDARD_DIRS = [WHISPER_DIR]
CARBONLINK_HOSTS = ["127.0.0.1:{query_port}:a"]
CARBONLINK_TIMEOUT = 2.0
CARBONLINK_RETRY_DELAY = 1
TAGDB = ""
DEFAULT_CACHE_DURATION = 0
FIND_CACHE_DURATION = 0
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {state!r} + "/graphite.db"}}}}
SILENCED_SYSTEM_CHECKS = ["models.W042", "admin.W411"]
"""


class MetricsStack:
    """StatsD + carbon-cache + graphite-web, started on free ports under ``state_dir``."""

    def __init__(self, state_dir: Path, flush_ms: int = 1000) -> None:
        self.state = Path(state_dir)
        self.flush_ms = flush_ms
        self.statsd_port = free_udp_port()
        self.statsd_mgmt_port = free_port()
        self.line_port = free_port()
        self.pickle_port = free_port()
        self.query_port = free_port()
        self.web_port = free_port()
        self.graphite_url = f"http://127.0.0.1:{self.web_port}"
        self.procs: list[tuple[str, subprocess.Popen, Any]] = []

    # -- lifecycle -----------------------------------------------------------
    def start(self, timeout: float = 60.0) -> MetricsStack:
        try:
            self._start_carbon(timeout)
            self._start_statsd(timeout)
            self._start_graphite_web(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for _name, proc, log in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            log.close()
        self.procs.clear()

    def stop_statsd(self) -> None:
        """Stop the StatsD daemon (a fault: the metrics go silent); ``start_statsd`` brings it back."""
        for entry in list(self.procs):
            name, proc, log = entry
            if name == "statsd":
                proc.terminate()
                proc.wait(10)
                log.close()
                self.procs.remove(entry)

    def start_statsd(self, timeout: float = 30.0) -> None:
        self._start_statsd(timeout)

    def __enter__(self) -> MetricsStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs(self) -> str:
        out = []
        for path in sorted((self.state / "log").glob("*.log")):
            out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None,
               cwd: Path | None = None) -> subprocess.Popen:
        (self.state / "log").mkdir(parents=True, exist_ok=True)
        log = open(self.state / "log" / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env or _system_env(),
                                cwd=cwd or self.state, start_new_session=True)
        self.procs.append((name, proc, log))
        return proc

    def _start_carbon(self, timeout: float) -> None:
        conf = self.state / "conf"
        for sub in ("conf", "storage/whisper", "storage/lists", "log/carbon", "run"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        (conf / "carbon.conf").write_text(CARBON_CONF.format(
            state=self.state, line_port=self.line_port, pickle_port=self.pickle_port, query_port=self.query_port))
        (conf / "storage-schemas.conf").write_text(STORAGE_SCHEMAS)
        shutil.copy(ROOT / "deploy" / "graphite" / "storage-aggregation.conf", conf / "storage-aggregation.conf")
        proc = self._spawn("carbon", ["carbon-cache", f"--config={conf / 'carbon.conf'}",
                                      f"--pidfile={self.state / 'run' / 'carbon.pid'}", "--nodaemon",
                                      f"--logdir={self.state / 'log' / 'carbon'}", "start"],
                           env=_system_env(GRAPHITE_ROOT=str(self.state), GRAPHITE_CONF_DIR=str(conf)))
        _wait_for_port(self.line_port, timeout, proc, "carbon-cache")
        _wait_for_port(self.query_port, timeout, proc, "carbon-cache")

    def _start_statsd(self, timeout: float) -> None:
        config = json.loads((ROOT / "deploy" / "statsd" / "config.js").read_text())
        config.update(address="127.0.0.1", port=self.statsd_port, mgmt_address="127.0.0.1",
                      mgmt_port=self.statsd_mgmt_port, flushInterval=self.flush_ms,
                      graphiteHost="127.0.0.1", graphitePort=self.line_port)
        path = self.state / "statsd-config.js"
        path.write_text(json.dumps(config, indent=2))
        proc = self._spawn("statsd", ["node", str(STATSD_JS), str(path)], cwd=STATSD_JS.parent)
        _wait_for_port(self.statsd_mgmt_port, timeout, proc, "statsd")

    def _start_graphite_web(self, timeout: float) -> None:
        settings_dir = self.state / "graphite_settings"
        settings_dir.mkdir(exist_ok=True)
        (self.state / "log" / "webapp").mkdir(parents=True, exist_ok=True)
        (settings_dir / "tp_graphite_settings.py").write_text(
            GRAPHITE_SETTINGS.format(state=str(self.state), query_port=self.query_port))
        env = _system_env(PYTHONPATH=str(settings_dir), DJANGO_SETTINGS_MODULE="graphite.settings",
                          GRAPHITE_SETTINGS_MODULE="tp_graphite_settings")
        # /metrics/find (Grafana's variable and metric browser) reads the user table: create the schema.
        migrate = subprocess.run([SYSTEM_PYTHON, "-m", "django", "migrate", "--noinput", "-v0"], env=env,
                                 cwd=self.state, capture_output=True, text=True, timeout=timeout)
        if migrate.returncode != 0:
            raise RuntimeError(f"graphite-web migrate failed: {migrate.stdout}{migrate.stderr}")
        proc = self._spawn("graphite-web", [SYSTEM_PYTHON, "-m", "django", "runserver", "--noreload",
                                            f"127.0.0.1:{self.web_port}"], env=env)
        wait_for_http(self.graphite_url + "/render?target=none&format=json", timeout, proc)

    # -- queries -------------------------------------------------------------
    def render(self, targets: list[str] | str, since: str = "-10min", until: str = "now",
               fmt: str = "json") -> Any:
        """graphite-web's /render for ``targets``: parsed JSON, or raw bytes for other formats."""
        if isinstance(targets, str):
            targets = [targets]
        query = [("target", t) for t in targets] + [("from", since), ("until", until), ("format", fmt)]
        url = f"{self.graphite_url}/render?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
        return json.loads(body) if fmt == "json" else body

    def total(self, target: str, since: str = "-10min") -> float:
        """Sum of every non-null point of every series ``target`` matches."""
        return sum(v for series in self.render(target, since) for v, _ts in series["datapoints"] if v is not None)

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "metrics") -> Any:
        """Poll ``predicate()`` until it returns something truthy (it may raise AssertionError meanwhile)."""
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                result = predicate()
                if result:
                    return result
            except (AssertionError, OSError) as exc:
                last = exc
            time.sleep(0.25)
        raise AssertionError(f"{what} did not arrive within {timeout}s: {last}")


def _wait_for_port(port: int, timeout: float, proc: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{name} did not listen on {port} within {timeout}s")
