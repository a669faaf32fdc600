"""Levels add up across processes and machines: the dashboard's totals equal what the processes hold.

Two app instances share one StatsD: "web1" runs ``--processes 2 --port-per-process`` (so the test
knows which worker holds what), "web2" one process. The test holds long-polls, WebSockets and
half-sent uploads spread over the three processes, evaluates the dashboard's own panel targets
through graphite-web's render API, and expects the exact sums; then it SIGKILLs web2 (which can
send nothing more) and expects its share to leave the sums within StatsD's gaugesMaxTTL.
"""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from tests.helpers import ServerProcess, consecutive_free_ports, wait_for_http
from tests.metrics.coverage import load_dashboard
from tests.metrics_stack import MetricsStack

pytestmark = pytest.mark.system


def panel_target(title: str, label: str | None = None) -> str:
    """The dashboard panel's target (the one aliased ``label`` when it has several)."""
    panel = next(p for p in load_dashboard()["panels"] if p.get("title") == title)
    targets = [t["target"] for t in panel["targets"]]
    if label is None:
        assert len(targets) == 1, targets
        return targets[0]
    return next(t for t in targets if t.endswith(f"'{label}')"))


def fill(target: str, prefix: str, host: str = "*") -> str:
    return target.replace("$prefix", prefix).replace("$host", host).replace("$route", "*")


def latest(stack: MetricsStack, target: str, points: int = 2) -> dict[str, list[float]]:
    """series name -> its last ``points`` values of the last 6 s, through /render (all-null series left out:
    a panel draws nothing for them)."""
    out = {}
    for series in stack.render(target, "-6s"):
        values = [v for v, _ in series["datapoints"] if v is not None]
        if values:
            out[series["target"]] = values[-points:]
    return out


def settled(stack: MetricsStack, target: str, expected: dict[str, float]) -> bool:
    """Every series of ``target`` read ``expected`` (name -> value) on its last two points."""
    got = latest(stack, target)
    if set(got) != set(expected):
        raise AssertionError(f"{target}: series {sorted(got)} != {sorted(expected)}")
    for name, value in expected.items():
        if got[name] != [value, value]:
            raise AssertionError(f"{target}: {name} reads {got[name]}, expected {value}")
    return True


class Held:
    """Raw connections the test keeps open: long-polls, WebSockets, half-sent uploads."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []

    def _open(self, port: int, request: bytes) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(request)
        self.socks.append(sock)
        return sock

    def long_poll(self, port: int) -> None:
        self._open(port, b"GET /api/v1/events?timeout=50 HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\n\r\n")

    def websocket(self, port: int) -> None:
        sock = self._open(port, b"GET /ws?cursor=0 HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                b"Sec-WebSocket-Version: 13\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 101"), "no WebSocket upgrade"

    def upload(self, port: int) -> None:
        self._open(port, b"PUT /held.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 500000\r\n\r\n" + b"h" * 4000)

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.socks.clear()


@pytest.fixture
def instances(metrics_stack: MetricsStack, tmp_path):
    prefix = f"tp_agg_{uuid.uuid4().hex[:8]}"
    common = ["--statsd-host", "127.0.0.1", "--statsd-port", str(metrics_stack.statsd_port), "--statsd-prefix",
              prefix, "--log-level", "WARNING"]
    first = consecutive_free_ports(2)
    web1 = ServerProcess(tmp_path / "web1" / "data", port=first, extra_args=[
        *common, "--processes", "2", "--port-per-process", "--metrics-host", "web1"])
    web2 = ServerProcess(tmp_path / "web2" / "data", extra_args=[*common, "--metrics-host", "web2"])
    with web1, web2:
        wait_for_http(f"http://127.0.0.1:{first + 1}/healthz", 20)
        yield {"prefix": prefix, "web1": web1, "web2": web2, "ports": {"w0": first, "w1": first + 1,
                                                                        "web2": web2.port}}


def test_levels_sum_across_processes_and_hosts_and_dead_processes_drop_out(metrics_stack, instances):
    prefix, ports = instances["prefix"], instances["ports"]
    w0, w1 = f"{ports['w0']}-0", f"{ports['w1']}-1"
    web2 = f"{ports['web2']}-0"
    # What each process holds: (long-polls, WebSockets, half-sent uploads).
    plan = {("web1", w0, ports["w0"]): (2, 0, 1), ("web1", w1, ports["w1"]): (3, 1, 2),
            ("web2", web2, ports["web2"]): (4, 2, 1)}
    held = Held()
    try:
        for (_host, _worker, port), (polls, sockets, uploads) in plan.items():
            for _ in range(polls):
                held.long_poll(port)
            for _ in range(sockets):
                held.websocket(port)
            for _ in range(uploads):
                held.upload(port)

        def total(title: str, label: str | None = None, host: str = "*") -> str:
            return fill(panel_target(title, label), prefix, host)

        long_polls = total("Subscribers", "long-poll")
        expected_series = "long-poll"  # alias() names the summed series
        checks: list[tuple[str, dict[str, float]]] = [
            # The dashboard's totals: the sum of what every process of every host holds.
            (long_polls, {expected_series: 9}),
            (total("Subscribers", "WebSocket"), {"WebSocket": 3}),
            (total("In flight"), {"in flight": 4}),  # the half-sent uploads (feeds are not in-flight requests)
            # Drill-down with $host.
            (total("Subscribers", "long-poll", host="web1"), {expected_series: 5}),
            (total("Subscribers", "long-poll", host="web2"), {expected_series: 4}),
            (total("Uploads open by host"), {"web1": 3, "web2": 1}),
            (total("Processes reporting by host"), {"web1": 2, "web2": 1}),
            # And each process's own series: exactly what it holds.
            (f"stats.gauges.{prefix}.proc.*.*.longpoll.subscribers",
             {f"stats.gauges.{prefix}.proc.web1.{w0}.longpoll.subscribers": 2,
              f"stats.gauges.{prefix}.proc.web1.{w1}.longpoll.subscribers": 3,
              f"stats.gauges.{prefix}.proc.web2.{web2}.longpoll.subscribers": 4}),
        ]
        for target, expected in checks:
            metrics_stack.wait_for(lambda t=target, e=expected: settled(metrics_stack, t, e), timeout=30,
                                   what=f"{target} == {expected}")

        # A process that dies sends nothing more: StatsD stops its gauges after gaugesMaxTTL (2) flushes,
        # so the sums fall to what the living hold instead of keeping the dead process's last value.
        instances["web2"].kill()
        for target, expected in [(long_polls, {expected_series: 5}), (total("In flight"), {"in flight": 3}),
                                 (total("Processes reporting by host"), {"web1": 2})]:
            metrics_stack.wait_for(lambda t=target, e=expected: settled(metrics_stack, t, e), timeout=30,
                                   what=f"after web2 died: {target} == {expected}")
        # And it stays that way (no stale value comes back).
        time.sleep(3)
        assert settled(metrics_stack, long_polls, {expected_series: 5})
        assert set(latest(metrics_stack, total("Processes reporting by host"))) == {"web1"}
    finally:
        held.close()
    # Let go of everything: the totals read 0.
    metrics_stack.wait_for(lambda: settled(metrics_stack, fill(panel_target("Subscribers", "long-poll"), prefix),
                                           {"long-poll": 0}), timeout=30, what="long-polls released")
    metrics_stack.wait_for(lambda: settled(metrics_stack, fill(panel_target("In flight"), prefix), {"in flight": 0}),
                           timeout=30, what="uploads released")

