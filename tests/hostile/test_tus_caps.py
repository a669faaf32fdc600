"""Open tus uploads are bounded (finding 11): per client and in all, by count and declared bytes; by free disk;
and their metadata by size.

100 creations with ``Upload-Length: 1G`` and a 46 KB metadata filename all got 201 in 2.2 s, each a state row
and a file in data/tus/ for a day. Every cap is tested at its edge: the upload that crosses it is refused and
leaves nothing behind (no state row, no file in data/tus/); an upload finished, terminated or expired frees its
slot. Many clients are simulated through ``behind_proxy`` and ``X-Real-IP``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import os
import shutil

import pytest

from tests.conftest import body_of
from tests.tus_helpers import TUS, create, head, metadata, patch
from tornado_paste.tus.service import TusService

pytestmark = pytest.mark.usefixtures("no_server_errors")

A, B, C = "203.0.113.10", "203.0.113.20", "203.0.113.30"
CAPS = {"behind_proxy": True, "tus_max_uploads_per_client": 3, "tus_max_client_bytes": 1000, "tus_max_uploads": 5}


def free_disk(monkeypatch, free: int) -> None:
    """Make the data dir's filesystem report ``free`` bytes free."""
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 50, (1 << 50) - free, free))


def who(address: str) -> dict[str, str]:
    return {"X-Real-IP": address}


async def new_upload(fetch, address: str, length: int | None, meta: str | None = None, body: bytes | None = None):
    return await create(fetch, length, defer=length is None, meta=meta, headers=who(address), body=body)


class Trace:
    """What the tus state store and data/tus/ hold, to prove a refusal left nothing behind."""

    def __init__(self, services) -> None:
        self.services = services

    async def snapshot(self) -> tuple[frozenset[str], frozenset[str]]:
        tus_dir = self.services.tus.dir
        files = frozenset(os.listdir(tus_dir)) if os.path.isdir(tus_dir) else frozenset()
        return frozenset(await self.services.store.tus_state.ids()), files


@pytest.fixture
def trace(services) -> Trace:
    return Trace(services)


@pytest.fixture
def counters(services, monkeypatch):
    counts: dict[str, int] = {}
    original = services.metrics.incr

    def incr(name: str, count: int = 1) -> None:
        counts[name] = counts.get(name, 0) + count
        original(name, count)

    monkeypatch.setattr(services.metrics, "incr", incr)
    return counts


async def refused(fetch, trace: Trace, address: str, length: int | None, status: int, code: str, **kw) -> dict:
    before = await trace.snapshot()
    response, location = await new_upload(fetch, address, length, **kw)
    assert response.code == status, (response.code, response.body)
    assert location == ""
    error = body_of(response)["error"]
    assert error["code"] == code, error
    if status in (429, 503):
        assert int(response.headers["Retry-After"]) >= 1
    assert await trace.snapshot() == before, "the refused creation left a state row or a file behind"
    return error


async def created(fetch, address: str, length: int | None, **kw) -> str:
    response, location = await new_upload(fetch, address, length, **kw)
    assert response.code == 201, (response.code, response.body)
    return location


@pytest.mark.parametrize("settings_overrides", [{"behind_proxy": True}])
@pytest.mark.gen_test(timeout=60)
async def test_the_reported_flood_is_refused_with_the_defaults(fetch, services, trace, counters, monkeypatch):
    """The report: 1G uploads with a 46 KB filename, over and over from one address."""
    free_disk(monkeypatch, 1 << 40)
    huge_name = metadata(filename="x" * 46_000)
    for _ in range(5):
        await refused(fetch, trace, A, 1 << 30, 400, "metadata_too_large", meta=huge_name)
    codes = []
    for _ in range(20):
        response, _ = await new_upload(fetch, A, 1 << 30, meta=metadata(filename="big.iso"))
        codes.append(response.code)
    # 4 GiB declared per client by default: four 1 GiB uploads, then 429.
    assert codes == [201] * 4 + [429] * 16
    ids, files = await trace.snapshot()
    assert len(ids) == len(files) == 4
    assert counters["tus.refused.metadata"] == 5 and counters["tus.refused.bytes"] == 16
    # Another address is not affected.
    await created(fetch, B, 1 << 30)


@pytest.mark.parametrize("settings_overrides", [CAPS])
@pytest.mark.gen_test(timeout=60)
async def test_open_uploads_per_client_at_the_edge(fetch, services, trace, counters):
    paths = [await created(fetch, A, 10) for _ in range(3)]
    await refused(fetch, trace, A, 10, 429, "tus_too_many_uploads")
    await refused(fetch, trace, A, None, 429, "tus_too_many_uploads")  # a deferred length takes a slot too
    assert counters["tus.refused.uploads"] == 2
    other = await created(fetch, B, 10)  # per client: B has its own slots
    # Finished: the slot is free.
    done = await patch(fetch, paths[0], 0, b"0123456789")
    assert done.code == 204 and "X-File-Location" in done.headers
    fourth = await created(fetch, A, 10)
    await refused(fetch, trace, A, 10, 429, "tus_too_many_uploads")
    # Terminated: free.
    assert (await fetch(paths[1], method="DELETE", headers=dict(TUS))).code == 204
    fifth = await created(fetch, A, 10)
    await refused(fetch, trace, A, 10, 429, "tus_too_many_uploads")
    # Expired (even before the sweeper removed it): free.
    state = services.store.tus_state
    upload_id = paths[2].rsplit("/", 1)[-1]
    await state.acquire(upload_id, "test", now=0.0, lease=1)
    await state.update(upload_id, "test", expires_at=1.0)
    await state.release(upload_id, "test")
    await created(fetch, A, 10)
    await refused(fetch, trace, A, 10, 429, "tus_too_many_uploads")
    assert all(p for p in (other, fourth, fifth))
    # The recorded client is internal: never answered.
    answer = await head(fetch, fifth)
    assert A not in str(answer.headers)


@pytest.mark.parametrize("settings_overrides", [CAPS])
@pytest.mark.gen_test(timeout=60)
async def test_declared_bytes_per_client_at_the_edge(fetch, services, trace, counters):
    first = await created(fetch, A, 600)
    second = await created(fetch, A, 400)  # exactly the 1000-byte cap
    await refused(fetch, trace, A, 1, 429, "tus_too_many_bytes")
    await refused(fetch, trace, B, 1001, 413, "too_large")  # alone over the cap: never possible
    await created(fetch, B, 1000)
    # Terminate 400 bytes' worth; a deferred upload may then declare up to 400 and no more.
    assert (await fetch(second, method="DELETE", headers=dict(TUS))).code == 204
    deferred = await created(fetch, A, None)
    over = await patch(fetch, deferred, 0, b"x" * 10, {"Upload-Length": "401"})
    assert over.code == 429 and body_of(over)["error"]["code"] == "tus_too_many_bytes"
    state = await head(fetch, deferred)
    assert state.headers["Upload-Defer-Length"] == "1" and state.headers["Upload-Offset"] == "0"
    # Its body alone may not carry it past the cap either, without declaring.
    too_long = await patch(fetch, deferred, 0, b"x" * 401)
    assert too_long.code == 413
    assert (await head(fetch, deferred)).headers["Upload-Offset"] == "0"
    edge = await patch(fetch, deferred, 0, b"x" * 10, {"Upload-Length": "400"})
    assert edge.code == 204 and edge.headers["Upload-Length"] == "400"
    await refused(fetch, trace, A, 1, 429, "tus_too_many_bytes")
    assert first


@pytest.mark.parametrize("settings_overrides", [CAPS])
@pytest.mark.gen_test(timeout=60)
async def test_open_uploads_of_everyone_at_the_edge(fetch, services, trace, counters):
    for address in (A, A, B, B, C):
        await created(fetch, address, 10)
    error = await refused(fetch, trace, "203.0.113.40", 10, 503, "tus_capacity")
    assert error["message"]
    assert counters["tus.refused.capacity"] == 1


@pytest.mark.parametrize("settings_overrides", [CAPS])
@pytest.mark.gen_test(timeout=60)
async def test_lengths_must_fit_on_the_disk(fetch, services, trace, counters, monkeypatch):
    free_disk(monkeypatch, 500)
    await refused(fetch, trace, A, 501, 507, "insufficient_storage")
    await created(fetch, A, 500)
    deferred = await created(fetch, B, None)
    late = await patch(fetch, deferred, 0, b"abc", {"Upload-Length": "501"})
    assert late.code == 507 and body_of(late)["error"]["code"] == "insufficient_storage"
    assert (await head(fetch, deferred)).headers["Upload-Defer-Length"] == "1"
    assert (await patch(fetch, deferred, 0, b"abc", {"Upload-Length": "500"})).code == 204
    assert counters["tus.refused.storage"] == 2


@pytest.mark.parametrize("settings_overrides", [CAPS])
@pytest.mark.gen_test(timeout=60)
async def test_metadata_size_at_the_edge(fetch, services, trace, counters):
    value = base64.b64encode(b"v" * 3069).decode()  # 4092 characters
    assert len("pad " + value) == 4096
    await created(fetch, A, 1, meta="pad " + value)
    await refused(fetch, trace, A, 1, 400, "metadata_too_large", meta="pads " + value)
    # The filename: 255 bytes after decoding, counted in UTF-8.
    ok = await created(fetch, B, 1, meta=metadata(filename="é" * 127 + "a"))
    await refused(fetch, trace, B, 1, 400, "metadata_too_large", meta=metadata(filename="é" * 128))
    await refused(fetch, trace, B, 1, 400, "metadata_too_large", meta=metadata(name="n" * 256))
    assert counters["tus.refused.metadata"] == 3
    # A final concatenation's metadata is bounded the same way.
    final = await fetch("/api/v1/tus/", method="POST", body=b"", headers={
        **TUS, **who(C), "Upload-Concat": f"final;{ok}", "Upload-Metadata": metadata(filename="f" * 300)})
    assert final.code == 400 and body_of(final)["error"]["code"] == "metadata_too_large"


@pytest.mark.parametrize("settings_overrides", [CAPS])
@pytest.mark.gen_test(timeout=60)
async def test_the_cap_holds_across_processes(fetch, services, trace):
    """Two services on one store (two processes) racing at the edge: never more than the cap, nothing left over."""
    from tornado_paste.tus.quota import TooManyOpenUploads, TusLimits

    second = TusService(services.store.tus_state, services.ingestor, services.metrics, services.settings.data_dir,
                        limits=TusLimits(per_client_uploads=3))
    first = services.tus
    await first.create(10, {}, client=A)
    await first.create(10, {}, client=A)
    for _round in range(5):
        outcomes = await asyncio.gather(first.create(10, {}, client=A), second.create(10, {}, client=A),
                                        return_exceptions=True)
        for outcome in outcomes:
            assert not isinstance(outcome, BaseException) or isinstance(outcome, TooManyOpenUploads), outcome
        usage = await services.store.tus_state.usage(now=0.0, client=A)
        assert usage.count <= 3
    ids, files = await trace.snapshot()
    assert ids == files and len(ids) == (await services.store.tus_state.usage(now=0.0, client=A)).count
