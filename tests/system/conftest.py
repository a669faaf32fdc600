"""The metrics stack (StatsD -> carbon-cache -> graphite-web), once per session for every system test."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import IN_CI, require_tool
from tests.metrics_stack import STATSD_JS, SYSTEM_PYTHON, MetricsStack


@pytest.fixture(scope="session")
def metrics_stack(tmp_path_factory):
    require_tool("node")
    require_tool("carbon-cache")
    require_tool(SYSTEM_PYTHON)
    missing = []
    if not STATSD_JS.exists():
        missing.append("the StatsD daemon is not in .tools/ (run `make tools-statsd`)")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import graphite.settings, django"], capture_output=True)
    if probe.returncode != 0:
        missing.append("graphite-web is not importable by /usr/bin/python3 (run `make setup-system`)")
    if missing:  # as require_tool: skip locally, fail under CI=true
        pytest.fail("; ".join(missing)) if IN_CI else pytest.skip("; ".join(missing))
    stack = MetricsStack(tmp_path_factory.mktemp("metrics-stack"))
    try:
        stack.start()
    except Exception as exc:
        pytest.fail(f"metrics stack did not start: {exc}\n{stack.logs()}")
    yield stack
    stack.stop()
