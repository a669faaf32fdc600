"""deploy/supervisord.conf, run for real: N processes on consecutive ports, a killed one restarted,
SIGTERM stops them all. Only the site paths and the port base are changed for the test."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from tests.helpers import ROOT, ports_free, require_tool, wait_for_http
from tests.system.test_processes import wait_for

CONF = ROOT / "deploy" / "supervisord.conf"


def render(tmp: Path, port_base: int) -> str:
    """The shipped program section with tmp paths, this venv's python and ports <base>1, <base>2..."""
    text = CONF.read_text()
    text = text.replace("/srv/tornado-paste/.venv/bin/python", sys.executable)
    text = text.replace("--port 800%(process_num)d", f"--port {port_base}%(process_num)d")
    text = text.replace("/srv/tornado-paste/data", str(tmp / "data"))
    text = re.sub(r"^directory = .*$", f"directory = {ROOT}", text, flags=re.M)
    text = re.sub(r"^user = .*$", "", text, flags=re.M)
    text = re.sub(r"^stdout_logfile = .*$", f"stdout_logfile = {tmp}/%(program_name)s-%(process_num)d.log",
                  text, flags=re.M)
    head = f"[supervisord]\nnodaemon = true\nlogfile = {tmp}/supervisord.log\npidfile = {tmp}/supervisord.pid\n\n"
    return head + text


def test_supervisord_runs_the_processes_and_restarts_a_dead_one(tmp_path):
    # supervisor comes from requirements-dev.txt: skipped locally without it, a failure under CI=true.
    supervisord = Path(require_tool(str(Path(sys.executable).with_name("supervisord"))))
    # Ports <base>1 and <base>2: find a base whose two ports are free.
    base = next(b for b in range(3000, 6500, 37) if ports_free(b * 10 + 1, 2))
    conf = tmp_path / "supervisord.conf"
    conf.write_text(render(tmp_path, base))
    proc = subprocess.Popen([str(supervisord), "-n", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    urls = [f"http://127.0.0.1:{base}{n}" for n in (1, 2)]
    try:
        for url in urls:
            wait_for_http(url + "/healthz", 30, proc)
        body = b"supervised bytes"
        cards = []
        for url in urls:
            request = urllib.request.Request(url + "/s.bin", data=body, method="PUT",
                                             headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                cards.append((response.status, json.loads(response.read())))
        assert [status for status, _ in cards] == [201, 200]  # one store, one data dir
        workers = psutil.Process(proc.pid).children()
        assert len(workers) == 2
        workers[0].kill()
        wait_for(lambda: len(kids := psutil.Process(proc.pid).children()) == 2
                 and workers[0].pid not in {k.pid for k in kids}, 30, "supervisord restarting the process")
        for url in urls:
            wait_for_http(url + "/healthz", 30, proc)
        pids = [k.pid for k in psutil.Process(proc.pid).children()]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        time.sleep(0.1)
        assert not any(psutil.pid_exists(pid) for pid in pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
