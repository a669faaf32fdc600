"""Clients that send a whole upload and then reset the connection (SO_LINGER 0) before the answer.

The reset reaches the server while it finishes the upload (drain, fsync, sniff, commit,
record): the handler's clean-up and the finish path then race for the staging file. That
used to end about one time in three in a 500 with a traceback (``os.fsync(None)`` in
``StagingFile.finish``, ``FileNotFoundError`` at ``os.link`` in the commit). Each upload now
either becomes a complete file (record + blob) or leaves nothing at all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import socket
import sqlite3
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import multipart_body
from tests.hostile_support import check_integrity, footprint, request_bytes
from tornado_paste.core.ingest import UploadCancelled
from tornado_paste.storage.blobs.local import WRITE_BUFFER, StagingDiscarded

CYCLES = 300
PARALLEL = 4
# Bounds the loop whatever the machine does (each cycle is a few ms when all is well).
LOOP_BUDGET_SECONDS = 90.0
_ACCESS = re.compile(r"^(\d{3}) ")


@pytest.fixture
def settings_overrides():
    # Hundreds of uploads from one address in seconds: no rate or concurrency limit in the way.
    return {"ratelimit_upload_rate": 0.0, "ratelimit_upload_burst": 0, "upload_max_per_client": 0}


def _request(index: int, rng: random.Random) -> bytes:
    size = rng.choice((200, 5_000, 70_000, 300_000, 1_200_000))
    # Mostly fresh bytes (the commit path); every fifth repeats earlier bytes (the dedupe path).
    seed = index % 7 if index % 5 == 0 else index
    data = random.Random(seed).randbytes(size)
    if index % 2:
        body, ctype = multipart_body(None, {"file": (f"r{index}.bin", data, "application/octet-stream")})
        return request_bytes("POST", "/", {"Content-Type": ctype, "Accept": "application/json"}, body)
    return request_bytes("PUT", f"/r{index}.bin", {"Accept": "application/json"}, data)


def _send_and_reset(port: int, data: bytes, delay: float) -> None:
    """Send the complete request, wait ``delay`` s, then close with an RST instead of a FIN."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            sock.sendall(data)
        except OSError:
            return  # the server answered and closed first: nothing to race
        if delay:
            time.sleep(delay)
    finally:
        sock.close()


def _records(data_dir: Path) -> list[str]:
    with sqlite3.connect(f"file:{data_dir / 'paste.sqlite3'}?mode=ro", uri=True, timeout=5) as conn:
        return [sha for (sha,) in conn.execute("SELECT sha256 FROM files")]


async def _settle(data_dir: Path, timeout: float = 20.0) -> None:
    """Wait for the server to finish whatever the resets left running (no staging file in tmp/)."""
    deadline = time.monotonic() + timeout
    while footprint(data_dir).staging:
        if time.monotonic() > deadline:
            raise AssertionError(f"staging files left behind: {footprint(data_dir).staging}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a commit that was between its last file step and its insert


@pytest.mark.gen_test(timeout=180)
async def test_uploads_reset_after_the_last_byte_leave_no_500_and_no_trace(base, http_port, settings, caplog):
    caplog.set_level(logging.INFO)
    data_dir = Path(settings.data_dir)
    rng = random.Random(6)
    jobs = [(_request(i, rng), rng.choice((0.0, 0.0, 0.0005, 0.002, 0.005, 0.02))) for i in range(CYCLES)]
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    done = 0
    with ThreadPoolExecutor(PARALLEL) as pool:
        for first in range(0, CYCLES, PARALLEL):
            if time.monotonic() - started > LOOP_BUDGET_SECONDS:
                break
            batch = jobs[first:first + PARALLEL]
            await asyncio.gather(*(loop.run_in_executor(pool, _send_and_reset, http_port, data, delay)
                                   for data, delay in batch))
            done += len(batch)
    assert done >= CYCLES // 2, f"only {done} cycles in {LOOP_BUDGET_SECONDS}s"
    await _settle(data_dir)

    statuses = [int(m.group(1)) for r in caplog.records if r.name == "tornado.access"
                for m in [_ACCESS.match(r.getMessage())] if m]
    server_errors = [s for s in statuses if s >= 500]
    bad = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not server_errors and not bad, (len(server_errors), bad[:5])

    # Every record has its blob (and each blob's bytes match its name); every blob has a record.
    check_integrity(data_dir)
    blobs = {p.name for p in (data_dir / "blobs").rglob("*") if p.is_file()}
    assert blobs == set(_records(data_dir)), "blob without record"
    assert os.listdir(data_dir / "tmp") == []
    # Some resets came too late to cancel (the file was stored), some early enough (nothing stored):
    # both outcomes are allowed, a half-stored upload is not. 499 = cancelled while finishing: the
    # race this test is about was really hit (about half of the cycles here), not dodged by timing.
    assert statuses.count(499) > 0, sorted(set(statuses))
    logging.getLogger(__name__).info("%d cycles, statuses %s, %d blobs", done, sorted(set(statuses)), len(blobs))


# -- the same races, one at a time, at the staging file ------------------------------------------
def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.gen_test
async def test_discard_while_finishing_cancels_cleanly(services):
    """discard() during finish()'s drain/fsync: finish closes the fd itself and raises StagingDiscarded."""
    fds = _open_fds()
    staging = services.blobs.stage(64)
    staging.write(b"x" * (WRITE_BUFFER + 123))  # one piece in flight, the rest buffered for drain()
    finishing = asyncio.ensure_future(staging.finish())
    await asyncio.sleep(0)  # finish() is now waiting for the piece
    staging.discard()
    staging.discard()  # twice, as the handler's and the ingest's clean-ups both may
    with pytest.raises(StagingDiscarded):
        await finishing
    assert not os.path.exists(staging.path)
    assert _open_fds() <= fds, "fd leaked or closed twice"
    with pytest.raises(StagingDiscarded):
        await staging.finish()


@pytest.mark.gen_test
async def test_commit_of_a_discarded_staging_file_is_a_cancellation(services):
    staging = services.blobs.stage(64)
    staging.write(b"committed too late")
    sha = await staging.finish()
    staging.discard()
    with pytest.raises(StagingDiscarded):
        await services.blobs.commit(staging, sha)
    assert not await services.blobs.exists(sha)


@pytest.mark.gen_test
async def test_abort_while_finishing_stops_before_the_record(services, monkeypatch):
    """The handler's abort (client reset) during finish: no record, no blob, no staging file, one refusal."""
    upload = services.ingestor.begin(source="put")
    upload.write(b"reset during the insert" * 10)
    refusals: list[str] = []
    monkeypatch.setattr(services.ingestor, "count_refusal", refusals.append)

    async def client_resets(record):
        upload.abort("aborted")  # what on_connection_close does, here while the blob is already linked

    services.ingestor.enrichers.append(client_resets)
    with pytest.raises(UploadCancelled):
        await upload.finish("r.bin")
    data_dir = Path(services.settings.data_dir)
    assert footprint(data_dir).records == 0
    assert not any(p.is_file() for p in (data_dir / "blobs").rglob("*"))
    assert os.listdir(data_dir / "tmp") == []
    assert refusals == ["aborted"]
