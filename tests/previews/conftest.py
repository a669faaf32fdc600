"""Shared by the preview tests: a metrics recorder on the running services, and the tools they need."""

from __future__ import annotations

import pytest

from tests.helpers import require_tool


@pytest.fixture
def counted(services, monkeypatch) -> dict[str, int]:
    """Every counter the services increment during the test (name -> total; timers as ``<name>:timed``)."""
    counts: dict[str, int] = {}

    def incr(name: str, count: int = 1) -> None:
        counts[name] = counts.get(name, 0) + count

    def timing(name: str, _ms: float) -> None:
        counts[f"{name}:timed"] = counts.get(f"{name}:timed", 0) + 1

    monkeypatch.setattr(services.metrics, "incr", incr)
    monkeypatch.setattr(services.metrics, "timing", timing)
    return counts


@pytest.fixture
def media_tools() -> None:
    """ffmpeg/ffprobe and poppler: skipped locally without them, a failure under CI=true."""
    for tool in ("ffmpeg", "ffprobe", "pdfinfo", "pdftoppm"):
        require_tool(tool)
