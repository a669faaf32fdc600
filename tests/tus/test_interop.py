"""tus interop and multi-process: the official tuspy client, and a resume on a second server process."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os

import pytest
import tornado.httpclient
from tusclient import client as tus_client

from tests.conftest import body_of, path_of
from tests.helpers import ServerProcess
from tests.tus_helpers import TUS, create, head, metadata, patch


def _upload_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


@pytest.mark.gen_test(timeout=60)
async def test_tuspy_uploads_and_resumes(base, fetch, services):
    loop = asyncio.get_running_loop()
    data = os.urandom(300_000)
    tus = tus_client.TusClient(base + "/api/v1/tus/")

    # First run: stops after ~100 KB (as if the tab closed); checksums on every chunk.
    first = await loop.run_in_executor(None, lambda: tus.uploader(
        file_stream=io.BytesIO(data), chunk_size=50_000, upload_checksum=True,
        metadata={"filename": "tuspy.bin", "filetype": "application/octet-stream"}))
    await loop.run_in_executor(None, lambda: first.upload(stop_at=100_000))
    url = first.url
    assert (await head(fetch, path_of(url))).headers["Upload-Offset"] == "100000"

    # Second run: a new uploader that only knows the URL asks the server for the offset and finishes.
    # (The constructor asks for the offset with a blocking HEAD: off the loop, which serves it.)
    second = await loop.run_in_executor(None, lambda: tus.uploader(
        file_stream=io.BytesIO(data), chunk_size=64_000, url=url, upload_checksum=True))
    assert second.offset == 100_000
    await loop.run_in_executor(None, second.upload)
    state = await services.tus.state.get(_upload_id(url))
    assert state.done and state.filehash
    card = body_of(await fetch(f"/api/v1/files/{state.filehash}"))
    assert card["filename"] == "tuspy.bin"
    assert card["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.gen_test(timeout=90)
async def test_tuspy_single_request_upload(base, fetch, services):
    loop = asyncio.get_running_loop()
    data = b"small file through tuspy\n" * 100
    uploader = await loop.run_in_executor(None, lambda: tus_client.TusClient(base + "/api/v1/tus/").uploader(
        file_stream=io.BytesIO(data), chunk_size=1 << 20, metadata={"filename": "note.txt"}))
    await loop.run_in_executor(None, uploader.upload)
    state = await services.tus.state.get(_upload_id(uploader.url))
    card = body_of(await fetch(f"/api/v1/files/{state.filehash}"))
    assert card["mimetype"] == "text/plain" and card["size"] == len(data)


@pytest.mark.gen_test(timeout=90)
async def test_resume_on_a_second_server_process(fetch, settings, services, tmp_path):
    """Process A (in-test server) takes the first half; process B (run.py) gets HEAD and the rest."""
    loop = asyncio.get_running_loop()
    data = os.urandom(256 * 1024)
    half = len(data) // 2
    _, path = await create(fetch, len(data), meta=metadata(filename="two-procs.bin"))
    assert (await patch(fetch, path, 0, data[:half])).code == 204

    other = ServerProcess(tmp_path / "data", log_path=tmp_path / "b.log")
    await loop.run_in_executor(None, other.start)
    try:
        http = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        try:
            described = await http.fetch(other.url + path, method="HEAD", headers=dict(TUS), raise_error=False)
            assert described.code == 200
            assert described.headers["Upload-Offset"] == str(half)
            finished = await http.fetch(other.url + path, method="PATCH", body=data[half:], raise_error=False,
                                        headers={**TUS, "Upload-Offset": str(half),
                                                 "Content-Type": "application/offset+octet-stream"})
            assert finished.code == 204, finished.body
            location = finished.headers["X-File-Location"]
            assert location.startswith(other.url)  # B builds links from its own base URL
            card = body_of(await http.fetch(location))
        finally:
            http.close()
    finally:
        await loop.run_in_executor(None, other.stop)
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    # Process A sees B's result in the shared store.
    assert (await head(fetch, path)).headers["Upload-Offset"] == str(len(data))
    assert body_of(await fetch(f"/api/v1/files/{card['filehash']}"))["size"] == len(data)
