"""Faults survived, nothing lost: client aborts, a store that is down, a full disk, StatsD gone.

(SIGKILL mid-upload and start-up with the store down use real ``run.py`` processes: test_crash.py.)
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sqlite3
import subprocess
import sys

import pytest

import tornado_paste.storage.blobs.local
from tests.conftest import body_of, path_of
from tests.faults import MULTIPART_HEAD, FakeStatsd, blob_files, blobs_intact, half_upload, poll, staging_files
from tests.helpers import free_port, require_tool
from tornado_paste.services import build_services
from tornado_paste.storage.sqlite.store import SQLiteStore


def _error(resp) -> dict:
    return json.loads(resp.body)["error"]


@pytest.fixture
def statsd():
    fake = FakeStatsd()
    yield fake
    fake.close()


def _listen_metrics(services, statsd) -> None:
    services.metrics.__init__("127.0.0.1", statsd.port, "tp")


# -- client aborts -----------------------------------------------------------------

@pytest.mark.parametrize("method, path", [("POST", "/"), ("PUT", "/cut.bin"), ("PUT", "/api/v1/files/cut.bin")])
@pytest.mark.gen_test(timeout=20)
async def test_client_abort_mid_upload_leaves_nothing_and_is_counted(fetch, services, http_port, statsd,
                                                                     method, path):
    _listen_metrics(services, statsd)
    sent = (MULTIPART_HEAD if method == "POST" else b"") + os.urandom(3 * (1 << 20) // 2)
    stream = await half_upload(http_port, sent, 10 << 20, path=path, method=method,
                               ctype="multipart/form-data; boundary=xyz" if method == "POST" else "text/plain")
    data_dir = services.settings.data_dir
    assert await poll(lambda: len(staging_files(data_dir)) == 1)  # bytes were being staged
    stream.close()
    assert await poll(lambda: staging_files(data_dir) == [])
    assert blob_files(data_dir) == []
    assert body_of(await fetch("/api/v1/files"))["total"] == 0
    assert await poll(lambda: statsd.count("upload.refused.aborted") == 1)
    assert services.limits.uploads.inflight_uploads == 0 and services.limits.uploads.inflight_bytes == 0


# -- the store is unavailable --------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [dict(store_timeout=0.2)])
@pytest.mark.gen_test(timeout=30)
async def test_sqlite_locked_answers_503_then_recovers(upload, fetch, services):
    before = body_of(await upload(b"stored before the lock", "a.txt"))
    locker = sqlite3.connect(services.settings.sqlite_path, timeout=0.1, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        resp = await upload(b"new while locked", "b.txt")
        assert resp.code == 503, resp.body
        assert resp.headers["Retry-After"] == "2"
        assert resp.headers["Content-Type"].startswith("application/json")
        assert _error(resp)["code"] == "unavailable"
        put = await fetch("/c.txt", method="PUT", body=b"put while locked")
        assert put.code == 503 and "Retry-After" in put.headers
        # Nothing half-done: no staging file, no blob without a record.
        data_dir = services.settings.data_dir
        assert staging_files(data_dir) == []
        assert {p.name for p in blob_files(data_dir)} == {before["sha256"]}
        # WAL readers are not blocked: downloads keep working.
        assert (await fetch(path_of(before["url_i"]))).body == b"stored before the lock"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    after = await upload(b"new while locked", "b.txt")  # same process, no restart
    assert after.code == 201
    assert (await fetch(path_of(body_of(after)["url_i"]))).body == b"new while locked"


def _closed_mongo_url() -> str:
    return f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"


@pytest.mark.parametrize("settings_overrides", [dict(mongo_url=_closed_mongo_url(), store_timeout=0.3,
                                                     store_start_retries=0, store_start_backoff=0.1)])
@pytest.mark.gen_test(timeout=30)
async def test_mongodb_unreachable_answers_503_quickly(upload, fetch, services):
    health = await fetch("/healthz", request_timeout=10)
    assert health.code == 503 and health.headers["Retry-After"] == "2"
    for resp in (await upload(b"data", "a.txt"),
                 await fetch("/x.txt", method="PUT", body=b"data"),
                 await fetch("/api/v1/files"),
                 await fetch("/api/v1/files/0123456789abcdef.txt"),
                 await fetch("/i/0123456789abcdef.txt"),
                 await fetch("/s/AbCdEf12")):
        assert resp.code == 503, (resp.effective_url, resp.code, resp.body)
        assert resp.headers["Retry-After"] == "2"
        assert _error(resp)["code"] == "unavailable"
    assert staging_files(services.settings.data_dir) == [] and blob_files(services.settings.data_dir) == []


class FlakyStore(SQLiteStore):
    """Refuses to open the first ``failures`` times, like a database still booting."""

    def __init__(self, path: str, failures: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.attempts = 0

    async def open(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            from tornado_paste.storage import StoreUnavailable

            raise StoreUnavailable("still booting")
        await super().open()


@pytest.mark.gen_test(timeout=30)
async def test_start_retries_with_exponential_backoff(settings, monkeypatch):
    delays = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds):
        # asyncio.sleep is patched for everyone (background loops sleep too): keep the start-up's own.
        if sys._getframe(1).f_code.co_filename.endswith("services.py"):
            delays.append(seconds)
        await real_sleep(0)

    store = FlakyStore(settings.sqlite_path, failures=3)
    svc = build_services(settings, store=store)
    monkeypatch.setattr("tornado_paste.services.asyncio.sleep", fake_sleep)
    await svc.start(retries=5, backoff=0.5)
    try:
        assert store.attempts == 4
        assert delays == [0.5, 1.0, 2.0]
        await svc.store.ping()
    finally:
        await svc.stop()


@pytest.mark.gen_test(timeout=30)
async def test_start_gives_up_waiting_but_recovers_in_background(settings):
    store = FlakyStore(settings.sqlite_path, failures=4)
    svc = build_services(settings, store=store)
    started = []

    async def feature_step():
        started.append(True)

    svc.on_start.append(feature_step)
    await svc.start(retries=1, backoff=0.01)  # returns after two failed attempts: the process can serve 503s
    try:
        assert store.attempts == 2 and started == []
        assert await poll(lambda: store.attempts == 5 and started == [True], timeout=15)
        await svc.store.ping()
    finally:
        await svc.stop()


# -- disk full -----------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs as the data dir when we may mount (root); else None (fault injection instead)."""
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                          capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def settings_overrides(request):
    if "readonly_overrides" in request.fixturenames:
        return request.getfixturevalue("readonly_overrides")
    return getattr(request, "param", {})


@pytest.fixture
def disk(small_disk, monkeypatch):
    """'tmpfs' (a real full filesystem) or 'injected' (os.write raising ENOSPC past 1 MiB staged)."""
    if small_disk is not None:
        return "tmpfs"
    real_write = os.write

    def full_write(fd, data):
        if os.fstat(fd).st_size + len(data) > (1 << 20):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(tornado_paste.storage.blobs.local.os, "write", full_write)
    return "injected"


@pytest.mark.gen_test(timeout=30)
async def test_disk_full_is_507_and_reads_keep_working(disk, upload, fetch, services, record_property):
    record_property("disk_full_mode", disk)
    print(f"disk full simulated by: {disk}")
    data_dir = services.settings.data_dir
    kept = body_of(await upload(b"small file stored first", "small.txt"))
    too_big = os.urandom(3 << 20)
    resp = await upload(too_big, "big.bin")
    assert resp.code == 507, (disk, resp.code, resp.body)
    assert _error(resp)["code"] == "insufficient_storage"
    put = await fetch("/big.bin", method="PUT", body=too_big)
    assert put.code == 507
    assert staging_files(data_dir) == []
    assert {p.name for p in blob_files(data_dir)} == {kept["sha256"]}
    assert (await fetch(path_of(kept["url_i"]))).body == b"small file stored first"
    assert (await fetch(path_of(kept["url_p"]), headers={"Accept": "text/html"})).code == 200
    again = await upload(b"room for this one", "ok.txt")  # the space was given back
    assert again.code == 201
    assert blobs_intact(data_dir) == []


# -- StatsD ----------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [dict(statsd_host="127.0.0.1", statsd_port=free_port()),
                                                dict(statsd_host="statsd.invalid", statsd_port=8125)],
                         indirect=True)
@pytest.mark.gen_test(timeout=30)
async def test_statsd_down_changes_nothing(upload, fetch, services):
    for i in range(20):  # enough packets for ICMP "port unreachable" errors to come back
        card = body_of(await upload(b"file %d" % i, f"f{i}.txt"))
        assert (await fetch(path_of(card["url_i"]))).code == 200
        assert (await fetch(path_of(card["url_api"]))).code == 200
    assert (await fetch("/nope")).code == 404
    assert (await fetch("/healthz")).code == 200


@pytest.fixture
def ext4_data_dir(tmp_path):
    """The data dir on a small loop-mounted ext4 image (chattr +i needs a real filesystem)."""
    require_tool("mkfs.ext4")
    require_tool("chattr")
    image, mount_point = tmp_path / "disk.img", tmp_path / "ext4"
    mount_point.mkdir()
    with open(image, "wb") as fh:
        fh.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount here (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    yield mount_point / "data"
    subprocess.run(["chattr", "-R", "-i", str(mount_point)], capture_output=True)
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.fixture
def readonly_overrides(ext4_data_dir):
    return dict(data_dir=str(ext4_data_dir), store_timeout=0.2)


@pytest.mark.gen_test(timeout=30)
async def test_sqlite_file_read_only_answers_503_then_recovers(readonly_overrides, upload, fetch, services):
    before = body_of(await upload(b"written while writable", "a.txt"))
    db = services.settings.sqlite_path
    frozen = [db, db + "-wal"]
    subprocess.run(["chattr", "+i", *frozen], check=True)  # even root cannot write it now
    try:
        resp = await upload(b"written while read-only", "b.txt")
        assert resp.code == 503, resp.body
        assert resp.headers["Retry-After"] == "2" and _error(resp)["code"] == "unavailable"
        assert staging_files(services.settings.data_dir) == []
        assert {p.name for p in blob_files(services.settings.data_dir)} == {before["sha256"]}
        assert (await fetch(path_of(before["url_i"]))).body == b"written while writable"
    finally:
        subprocess.run(["chattr", "-i", *frozen], check=True)
    after = await upload(b"written while read-only", "b.txt")
    assert after.code == 201, after.body
    assert (await fetch(path_of(body_of(after)["url_i"]))).body == b"written while read-only"
