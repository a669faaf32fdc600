"""docs/deploy.md's TLS site, for real: deploy/nginx/tornado-paste.conf (its ``# SITE:`` lines rendered
for loopback and a self-signed certificate made here with openssl) enabled inside Debian's own
/etc/nginx/nginx.conf, the real nginx in front of two ``run.py --base-url https://...`` processes.
Clients are curl, as an operator would check a new site."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, ServerProcess, free_port, require_tool
from tests.nginx_stack import ACCEL_PREFIX, NGINX_CONF, TEMP_DIRS, render_nginx_conf, site_values

pytestmark = pytest.mark.system

SITE_CONF = ROOT / "deploy" / "nginx" / "tornado-paste.conf"
HOST = "files.test"
LIMIT = 64 << 20


def debian_nginx_conf(prefix: Path) -> str:
    """Debian's /etc/nginx/nginx.conf as shipped, with only its paths moved into ``prefix``."""
    text = Path("/etc/nginx/nginx.conf").read_text()
    text = re.sub(r"(?m)^user\s+[^;]+;", "user root;" if os.geteuid() == 0 else "", text)
    text = re.sub(r"(?m)^pid\s+[^;]+;", f"pid {prefix}/nginx.pid;", text)
    text = re.sub(r"(?m)^(\s*)error_log\s+[^;]+;", rf"\1error_log {prefix}/error.log;", text)
    text = re.sub(r"(?m)^(\s*)access_log\s+[^;]+;", rf"\1access_log {prefix}/access.log;", text)
    text = text.replace("include /etc/nginx/conf.d/*.conf;", "")  # this machine's other sites stay out
    assert "include /etc/nginx/sites-enabled/*;" in text
    text = text.replace("include /etc/nginx/sites-enabled/*;", f"include {prefix}/sites-enabled/*;")
    temp = "".join(f"\n\t{name}_temp_path {prefix / name};" for name in TEMP_DIRS)
    return text.replace("http {", "http {" + temp, 1)


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited {proc.returncode}: {log.read_text() if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx did not listen on {port}")


class TLSSite:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.https_port, self.http_port = free_port(), free_port()
        self.url = f"https://{HOST}:{self.https_port}"
        self.data_dir = root / "data"
        self.cert, self.key = root / "cert.pem", root / "key.pem"
        self.backends = [ServerProcess(self.data_dir, extra_args=[
            "--behind-proxy", "--base-url", self.url, "--max-upload-size", str(LIMIT)],
            env={"TORNADO_PASTE_ACCEL_REDIRECT_PREFIX": ACCEL_PREFIX}, log_path=root / f"app-{i}.log")
            for i in range(2)]
        self.prefix = root / "nginx"
        self.proc: subprocess.Popen | None = None

    def start(self) -> TLSSite:
        # A self-signed certificate for the test's host name, as `openssl` makes one for a trial site.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", str(self.key), "-out", str(self.cert), "-subj", f"/CN={HOST}",
                        "-addext", f"subjectAltName=DNS:{HOST}"], check=True, capture_output=True, timeout=60)
        for backend in self.backends:
            backend.start()
        for name in (*TEMP_DIRS, "sites-available", "sites-enabled"):
            (self.prefix / name).mkdir(parents=True, exist_ok=True)
        site = render_nginx_conf({
            "backend": [f"server 127.0.0.1:{b.port} max_fails=3 fail_timeout=10s" for b in self.backends],
            "listen_http": f"listen 127.0.0.1:{self.http_port}",
            "redirect_server_name": f"server_name {HOST}",
            "redirect": f"return 301 https://$host:{self.https_port}$request_uri",
            "listen": f"listen 127.0.0.1:{self.https_port} ssl http2",
            "server_name": f"server_name {HOST}",
            "ssl_certificate": f"ssl_certificate {self.cert}",
            "ssl_certificate_key": f"ssl_certificate_key {self.key}",
            "client_max_body_size": f"client_max_body_size {LIMIT + (1 << 20)}",
            "static_root": f"alias {ROOT}/static/",
            "blob_dir": f"alias {self.data_dir}/blobs/",
            "access_log": f"access_log {self.prefix}/tornado-paste.access.log paste",
        }, text=SITE_CONF.read_text())
        (self.prefix / "sites-available" / "tornado-paste").write_text(site)
        (self.prefix / "sites-enabled" / "tornado-paste").symlink_to("../sites-available/tornado-paste")
        conf = self.prefix / "nginx.conf"
        conf.write_text(debian_nginx_conf(self.prefix))
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        command = [binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")]
        subprocess.run([*command, "-t", "-q"], check=True, capture_output=True, timeout=30)
        self.proc = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        wait_for_port(self.https_port, self.proc, self.prefix / "error.log")
        return self

    def curl(self, *args: str, check: bool = True, tls: bool = True) -> subprocess.CompletedProcess:
        """curl as an operator runs it (the test host name resolved to loopback, our CA trusted)."""
        resolve = [f"{HOST}:{self.https_port}:127.0.0.1", f"{HOST}:{self.http_port}:127.0.0.1"]
        base = ["curl", "-sS", *[a for r in resolve for a in ("--resolve", r)]]
        if tls:
            base += ["--cacert", str(self.cert)]
        done = subprocess.run([*base, *args], capture_output=True, timeout=60, cwd=self.root)
        if check:
            assert done.returncode == 0, (args, done.returncode, done.stderr)
        return done

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        for backend in self.backends:
            if backend.proc is not None:
                backend.stop()


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory) -> Iterator[TLSSite]:
    require_tool("nginx", "/usr/sbin/nginx")
    require_tool("openssl")
    require_tool("curl")
    if not Path("/etc/nginx/nginx.conf").exists():
        pytest.skip("no /etc/nginx/nginx.conf (Debian's nginx package) to enable the site in")
    site = TLSSite(tmp_path_factory.mktemp("nginx-tls"))
    try:
        yield site.start()
    finally:
        site.stop()


def headers_of(text: bytes) -> tuple[str, dict[str, str]]:
    lines = text.decode().split("\r\n")
    pairs = (line.partition(":") for line in lines[1:] if ":" in line)
    return lines[0].strip(), {k.lower(): v.strip() for k, _, v in pairs}


def test_upload_and_links_over_tls(tls_site):
    data = os.urandom(300_000)
    (tls_site.root / "x.bin").write_bytes(data)
    # The short link, then (a new file) its delete link.
    short = tls_site.curl("-f", "-F", "file=@x.bin", tls_site.url + "/").stdout.decode().splitlines()[0]
    assert re.fullmatch(rf"{re.escape(tls_site.url)}/s/\w+", short), short  # links use --base-url
    status, headers = headers_of(tls_site.curl("-fI", short).stdout)
    assert status == "HTTP/2 302", status  # HTTP/2 over TLS
    assert headers["strict-transport-security"] == "max-age=31536000"
    preview = headers["location"]
    assert preview.startswith(tls_site.url + "/p/")
    raw = preview.replace("/p/", "/i/")
    assert tls_site.curl("-f", raw).stdout == data  # nginx sends the bytes (X-Accel-Redirect)
    status, headers = headers_of(tls_site.curl("-fI", raw).stdout)
    assert status == "HTTP/2 200" and headers["strict-transport-security"] == "max-age=31536000"
    assert headers["etag"].strip('"') and "x-accel-redirect" not in headers
    page = tls_site.curl("-f", preview).stdout.decode()
    assert f'value="{short}"' in page or f'href="{short}"' in page
    assert tls_site.curl("-f", tls_site.url + "/static/app.css").stdout.startswith(b"/*")


def test_plain_http_redirects_to_https(tls_site):
    done = tls_site.curl("-I", f"http://{HOST}:{tls_site.http_port}/p/0123456789abcdef.png?x=1", tls=False)
    status, headers = headers_of(done.stdout)
    assert status.endswith("301 Moved Permanently")
    assert headers["location"] == f"{tls_site.url}/p/0123456789abcdef.png?x=1"


def test_the_certificate_is_checked(tls_site):
    # Without our CA curl refuses the self-signed certificate: TLS is real, not a plain port.
    refused = tls_site.curl("-f", tls_site.url + "/healthz", check=False, tls=False)
    assert refused.returncode == 60, refused.stderr
    assert b'"ok"' in tls_site.curl("-f", tls_site.url + "/healthz").stdout


# -- the site file stays in step with nginx.conf (no nginx needed) --------------------------------
def directives(text: str) -> list[str]:
    """Each directive line, comments and spacing dropped, SITE lines left out."""
    out = []
    for line in text.splitlines():
        if "# SITE:" in line:
            continue
        code = line.split("#", 1)[0].strip()
        code = re.sub(r"\s+", " ", code)
        if code and code not in ("}", "{"):
            out.append(code)
    return out


# nginx.conf lines that belong to a whole nginx.conf, not to a site inside Debian's (which has them).
TOP_LEVEL_ONLY = {"events {", "worker_connections 4096;", "http {", "default_type application/octet-stream;",
                  "sendfile on;", "tcp_nopush on;", "tcp_nodelay on;", "listen 80;",
                  "map $http_upgrade $connection_upgrade {", "proxy_set_header Connection $connection_upgrade;"}


def test_site_file_has_every_directive_of_nginx_conf():
    site = set(directives(SITE_CONF.read_text()))
    missing = [d for d in directives(NGINX_CONF.read_text()) if d not in site and d not in TOP_LEVEL_ONLY]
    assert not missing, f"in nginx.conf but not in {SITE_CONF.name}: {missing}"
    assert "proxy_set_header Connection $tornado_paste_connection;" in site
    names = site_values(SITE_CONF.read_text())
    assert {"backend", "listen", "server_name", "ssl_certificate", "ssl_certificate_key", "static_root",
            "blob_dir", "client_max_body_size"} <= set(names)


def test_secret_key_is_what_list_cursors_hang_on():
    """docs/deploy.md: with a new secret.key the list's next-page cursors handed out before are refused
    (the API answers 400); short codes and filehashes are stored values and do not depend on it."""
    from tornado_paste.core.cursor import CursorCodec

    old, new = CursorCodec(os.urandom(32)), CursorCodec(os.urandom(32))
    cursors = [old.encode(i) for i in range(1, 501)]
    assert [old.decode(c) for c in cursors] == list(range(1, 501))
    assert all(new.decode(c) is None for c in cursors)
    # And nothing else reads the key: its users are the list's cursor codec and shares' unlock grants
    # (docs/deploy.md), each with a key of its own derived from it; the same two are keyed again when the
    # deployment secret is the one kept in MongoDB (docs/scale.md).
    users = [line.strip() for path in (ROOT / "tornado_paste").rglob("*.py") if path.name != "secret.py"
             for line in path.read_text().splitlines() if "load_or_create_secret(" in line or "secret)" in line]
    assert sorted(users) == sorted([
        "secret = secret or load_or_create_secret(s.data_dir)", "cursors = CursorCodec(secret)",
        "shares = build_shares(s, store, ingestor, links, blobs, retention, secret)",
        "secret = load_or_create_secret(data_dir)", "user.rekey(secret)",
        "self.rekey(secret)", "self.rekey(secret)"]), users


def test_unlisted_files_stay_noindex_through_x_accel(tls_site):
    (tls_site.root / "secret.txt").write_bytes(os.urandom(64).hex().encode())
    card = tls_site.curl("-f", "-F", "file=@secret.txt", "-F", "private=1", "-H", "Accept: application/json",
                         tls_site.url + "/").stdout
    raw = json.loads(card)["url_i"]
    status, headers = headers_of(tls_site.curl("-fI", raw).stdout)
    assert status == "HTTP/2 200"
    assert headers["x-robots-tag"] == "noindex, nofollow"  # the app's header, re-added at /_blobs/
    assert "x-robots-tag" not in headers_of(tls_site.curl("-fI", tls_site.url + "/static/app.css").stdout)[1]


def test_the_sites_access_log_keeps_no_query_strings(tls_site):
    tls_site.curl("-s", "-o", "/dev/null", tls_site.url + "/api/v1/files/0123456789abcdef.png?token=s3cr3t-t0ken",
                  check=False)
    log = tls_site.prefix / "tornado-paste.access.log"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "0123456789abcdef.png" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    text = log.read_text()
    assert "/api/v1/files/0123456789abcdef.png" in text and "s3cr3t" not in text
