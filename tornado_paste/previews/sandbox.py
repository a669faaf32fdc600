"""Running an external media tool (ffprobe, ffmpeg, pdfinfo, pdftoppm) on an uploaded file, within limits.

A hostile file must not hang the service or exhaust the host: each tool runs as a
child process with

- a wall-clock limit (``subprocess`` timeout; the whole process group is killed),
- an address-space limit (``RLIMIT_AS``, set in ``preexec_fn`` in the child only),
- a CPU-time limit (``RLIMIT_CPU``, a second net under the wall clock),
- an output-file limit (``RLIMIT_FSIZE``) and no core dumps,
- no standard input, a lower CPU priority, and captured (bounded) output.

Blocking: meant for the bounded executor, never the event loop.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import signal
import subprocess
from dataclasses import dataclass

from tornado_paste.previews.errors import CorruptMedia, MediaTimeout, MediaTooLarge, ToolMissing

# What the tools print on allocation failure (ffmpeg's ENOMEM, poppler's and the C++ runtime's).
_OUT_OF_MEMORY = ("cannot allocate memory", "out of memory", "bad_alloc", "failed to map segment",
                  "memory allocation")


@dataclass(frozen=True)
class ToolLimits:
    timeout: float = 20.0  # seconds of wall clock
    memory: int = 1 << 30  # bytes of address space (ffmpeg maps ~300 MiB of libraries alone)
    output: int = 64 << 20  # bytes of any file the tool writes
    stdout: int = 4 << 20  # bytes of captured standard output we read


def tool_path(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"{name} is not installed on this server; previews of this type are unavailable")
    return path


def _limit_child(limits: ToolLimits) -> None:
    """In the child, between fork and exec: only async-signal-safe-ish calls (setrlimit, nice)."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    cpu = max(1, math.ceil(limits.timeout)) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output, limits.output))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(10)


def run_tool(argv: list[str], limits: ToolLimits, what: str = "the file") -> bytes:
    """Run ``argv`` within ``limits``; its standard output, or a refusal saying why not.

    ``MediaTimeout`` past the time limit (wall or CPU), ``MediaTooLarge`` when it ran out of memory or
    output space, ``CorruptMedia`` for any other failure (with the tool's last words).
    """
    argv = [tool_path(argv[0]), *argv[1:]]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True, start_new_session=True,
                                preexec_fn=lambda: _limit_child(limits))
    except OSError as exc:
        raise ToolMissing(f"cannot run {os.path.basename(argv[0])}: {exc}") from None
    try:
        out, err = proc.communicate(timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise MediaTimeout(f"reading {what} took longer than {limits.timeout:g} s") from None
    except BaseException:
        _kill_group(proc)
        raise
    if len(out) > limits.stdout:
        raise MediaTooLarge(f"{what} made the tool print more than {limits.stdout} bytes")
    if proc.returncode == 0:
        return out
    last = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:300]
    lowered = err.decode("utf-8", "replace").lower()
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise MediaTimeout(f"reading {what} used more than its CPU time")
    if proc.returncode == -signal.SIGXFSZ or "file too large" in lowered:  # RLIMIT_FSIZE: killed, or EFBIG
        raise MediaTooLarge(f"the preview of {what} would be larger than {limits.output} bytes")
    if any(words in lowered for words in _OUT_OF_MEMORY) or proc.returncode == -signal.SIGSEGV:
        # Out of address space shows up as a failed allocation, or as a crash of code that did not check.
        raise MediaTooLarge(f"{what} needs more than {limits.memory >> 20} MiB to read")
    raise CorruptMedia(f"{what} could not be read" + (f": {last}" if last else ""))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()
