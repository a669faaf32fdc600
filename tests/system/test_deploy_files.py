"""The deployment files agree with each other and with what the tests run."""

from __future__ import annotations

import configparser
import re
import subprocess

from tests.helpers import ROOT, require_tool
from tests.nginx_stack import NGINX_CONF, compose_nginx_conf, site_values

DEPLOY = ROOT / "deploy"


def test_compose_nginx_conf_is_the_render_of_nginx_conf():
    assert (DEPLOY / "compose" / "nginx.conf").read_text() == compose_nginx_conf(), \
        "regenerate it: make compose-nginx-conf"


def test_docker_compose_config_is_valid():
    tool = require_tool("docker-compose")
    out = subprocess.run([tool, "-f", str(DEPLOY / "docker-compose.yml"), "config", "--services"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == {"app1", "app2", "nginx", "mongo", "graphite", "grafana"}


def test_supervisord_ports_match_the_upstream():
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    parser.read(DEPLOY / "supervisord.conf")
    program = parser["program:tornado-paste"]
    count, start = int(program["numprocs"]), int(program["numprocs_start"])
    command = " ".join(program["command"].split())
    assert "--behind-proxy" in command and "--address 127.0.0.1" in command
    port_template = re.search(r"--port (\S+)", command).group(1)
    ports = {int(port_template.replace("%(process_num)d", str(n))) for n in range(start, start + count)}
    upstream = {int(line.split()[1].rsplit(":", 1)[1]) for line in site_values(NGINX_CONF.read_text())["backend"]}
    assert ports == upstream
    assert int(program["stopwaitsecs"]) > 10  # longer than run.py's shutdown_grace


def test_dockerfile_ships_every_runtime_part():
    text = (DEPLOY / "Dockerfile").read_text()
    for part in ("run.py", "settings.py", "tornado_paste", "handlers", "templates", "static", "requirements.txt"):
        assert re.search(rf"^COPY .*\b{re.escape(part)}\b", text, re.M), part
    assert "libmagic1" in text and "USER paste" in text
