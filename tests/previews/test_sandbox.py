"""External tools run within their limits: wall clock, address space, output; a missing tool is a 503 kind."""

from __future__ import annotations

import sys
import time

import pytest

from tornado_paste import errors
from tornado_paste.previews.errors import CorruptMedia, MediaTimeout, MediaTooLarge, ToolMissing
from tornado_paste.previews.sandbox import ToolLimits, run_tool

PY = sys.executable


def test_output_of_a_tool_that_succeeds():
    assert run_tool([PY, "-c", "print('hello')"], ToolLimits(timeout=20)) == b"hello\n"


def test_a_hanging_tool_is_killed_at_its_time_limit():
    started = time.monotonic()
    with pytest.raises(MediaTimeout) as caught:
        run_tool(["sleep", "30"], ToolLimits(timeout=0.5))
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, errors.Unprocessable)


def test_a_tool_that_spins_is_stopped_by_the_cpu_limit_or_the_clock():
    started = time.monotonic()
    with pytest.raises(MediaTimeout):
        run_tool([PY, "-c", "while True: pass"], ToolLimits(timeout=1.0))
    assert time.monotonic() - started < 6


def test_a_tool_that_wants_too_much_memory_is_refused():
    hog = "import sys\ntry:\n    b = bytearray(600 << 20)\nexcept MemoryError:\n    sys.exit('out of memory')\n"
    with pytest.raises(MediaTooLarge):
        run_tool([PY, "-c", hog], ToolLimits(timeout=20, memory=256 << 20))


def test_a_tool_writing_too_much_is_refused(tmp_path):
    target = tmp_path / "big"
    writer = f"f = open({str(target)!r}, 'wb')\nfor _ in range(64): f.write(bytes(1 << 20)); f.flush()\n"
    with pytest.raises(MediaTooLarge):
        run_tool([PY, "-c", writer], ToolLimits(timeout=20, output=4 << 20))


def test_a_failing_tool_is_a_corrupt_file_with_its_last_words():
    with pytest.raises(CorruptMedia, match="moov atom not found"):
        run_tool([PY, "-c", "import sys; sys.exit('x.mp4: moov atom not found')"], ToolLimits(timeout=20))


def test_a_missing_tool_is_unavailable():
    with pytest.raises(ToolMissing) as caught:
        run_tool(["no-such-tool-here", "-v"], ToolLimits())
    assert isinstance(caught.value, errors.Unavailable)
