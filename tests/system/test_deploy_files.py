"""The deployment files agree with each other and with what the tests run."""

from __future__ import annotations

import configparser
import json
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
    # minio and minio-init belong to the "s3" profile (started only with --profile s3).
    assert set(out.stdout.split()) == {"app1", "app2", "nginx", "mongo", "graphite", "grafana", "minio", "minio-init"}
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert text.count('profiles: ["s3"]') == 2


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


def test_compose_statsd_config_is_the_one_config_on_every_interface(tmp_path):
    """deploy/compose/statsd.js evaluates (as StatsD does) to deploy/statsd/config.js listening on 0.0.0.0."""
    node = require_tool("node")
    base = json.loads((DEPLOY / "statsd" / "config.js").read_text())
    source = (DEPLOY / "compose" / "statsd.js").read_text().replace(
        "/opt/statsd/config/base.json", str(tmp_path / "base.json"))
    (tmp_path / "base.json").write_text(json.dumps(base))
    script = "const fs = require('fs'); let config; config = eval('config = ' + fs.readFileSync(process.argv[1]));" \
             " console.log(JSON.stringify(config));"
    (tmp_path / "udp.js").write_text(source)
    out = subprocess.run([node, "-e", script, str(tmp_path / "udp.js")], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {**base, "address": "0.0.0.0", "mgmt_address": "0.0.0.0"}
