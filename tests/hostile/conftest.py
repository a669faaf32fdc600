"""Shared by the hostile-input tests: the server must log nothing as its own fault."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def no_server_errors(server, caplog):
    """No traceback, no ERROR log: a hostile request is the client's problem, not ours."""
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]
