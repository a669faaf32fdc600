"""The streamed zip: exact size up front, deterministic bytes, any range on its own, UTF-8 names,
duplicate names told apart, Zip64 where needed; read back with the standard library and unzip."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime

import pytest

from tornado_paste.shares import zipper
from tornado_paste.shares.zipper import Entry, ZipPlan, crc_of, stream, unique_names


def test_unique_names_case_insensitive_and_keeps_extensions():
    assert unique_names(["a.txt", "A.TXT", "a.txt", "b", "b", ".env", ".env", "x/y.txt", ""]) == [
        "a.txt", "A (2).TXT", "a (3).txt", "b", "b (2)", ".env", ".env (2)", "x_y.txt", "file"]


@pytest.fixture
def blobs(tmp_path):
    made = {}

    def make(data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        (tmp_path / sha).write_bytes(data)
        made[sha] = data
        return sha

    async def read(sha: str, start: int = 0, end: int | None = None):
        """Like ``BlobStore.stream``: the bytes [start, end) in small pieces."""
        data = (tmp_path / sha).read_bytes()[start:end]
        for at in range(0, len(data), 1000):
            yield data[at:at + 1000]

    read.path = lambda sha: str(tmp_path / sha)  # type: ignore[attr-defined]
    return make, read


async def build(blobs, files):
    make, path_for = blobs
    entries = []
    for name, data in files:
        sha = make(data)
        entries.append(Entry(name, len(data), sha, datetime(2024, 5, 6, 7, 8, 10, tzinfo=UTC)))
    plan = ZipPlan(entries)
    plan.with_crcs({i: await crc_of(path_for, e.sha256) for i, e in enumerate(plan.entries)})
    return plan, path_for


async def collect(plan, path_for, start=0, end=None):
    return b"".join([chunk async for chunk in stream(plan, path_for, start, end)])


FILES = [("résumé ü.txt", b"hello " * 1000), ("a.txt", b"first"), ("a.txt", b"second"), ("empty.bin", b""),
         ("日本語.md", bytes(range(256)) * 50)]


@pytest.mark.gen_test
async def test_archive_has_the_announced_size_and_reads_back(blobs):
    plan, path_for = await build(blobs, FILES)
    data = await collect(plan, path_for)
    assert len(data) == plan.size
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["résumé ü.txt", "a.txt", "a (2).txt", "empty.bin", "日本語.md"]
        assert all(i.flag_bits & 0x800 and i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert archive.read("a (2).txt") == b"second" and archive.read("日本語.md") == FILES[4][1]
        assert infos[0].date_time == (2024, 5, 6, 7, 8, 10)
    unzip = shutil.which("unzip")
    if unzip:
        path = path_for.path("archive.zip")
        with open(path, "wb") as out:
            out.write(data)
        assert subprocess.run([unzip, "-tq", path], capture_output=True).returncode == 0


@pytest.mark.gen_test
async def test_bytes_are_deterministic_and_every_range_matches(blobs):
    plan, path_for = await build(blobs, FILES)
    whole = await collect(plan, path_for)
    again, _ = await build(blobs, FILES)
    assert await collect(again, path_for) == whole and again.etag == plan.etag
    for start, end in [(0, 1), (5, 40), (29, 31), (100, 7000), (plan.size - 22, plan.size), (0, plan.size),
                       (plan.cd_offset - 3, plan.cd_offset + 50)]:
        assert await collect(plan, path_for, start, end) == whole[start:end], (start, end)


@pytest.mark.gen_test
async def test_zip64_fields_where_sizes_and_offsets_need_them(blobs, monkeypatch):
    monkeypatch.setattr(zipper, "ZIP64_AT", 3000)  # as if 3000 bytes were 4 GiB
    plan, path_for = await build(blobs, FILES)
    assert plan.zip64_end
    data = await collect(plan, path_for)
    assert len(data) == plan.size
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.read("résumé ü.txt") == FILES[0][1] and archive.read("日本語.md") == FILES[4][1]


def test_a_changed_member_changes_the_etag():
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    one = ZipPlan([Entry("a", 1, "0" * 64, moment)])
    two = ZipPlan([Entry("a", 1, "1" * 64, moment)])
    assert one.etag != two.etag and one.size == two.size
