"""Small tus request helpers shared by the tus test modules."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tests.conftest import path_of

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = {"Content-Type": "application/offset+octet-stream"}


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


async def create(fetch: Any, length: int | None = None, *, defer: bool = False, meta: str | None = None,
                 headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[Any, str]:
    """POST /api/v1/tus/; returns (response, upload path)."""
    hdrs = dict(TUS)
    if length is not None:
        hdrs["Upload-Length"] = str(length)
    if defer:
        hdrs["Upload-Defer-Length"] = "1"
    if meta is not None:
        hdrs["Upload-Metadata"] = meta
    if body:
        hdrs.update(OFFSET_STREAM)
    hdrs.update(headers or {})
    response = await fetch("/api/v1/tus/", method="POST", body=body or b"", headers=hdrs)
    location = response.headers.get("Location")
    return response, path_of(location) if location else ""


async def patch(fetch: Any, path: str, offset: int, data: bytes, headers: dict[str, str] | None = None) -> Any:
    hdrs = {**TUS, **OFFSET_STREAM, "Upload-Offset": str(offset), **(headers or {})}
    return await fetch(path, method="PATCH", body=data, headers=hdrs)


async def head(fetch: Any, path: str) -> Any:
    return await fetch(path, method="HEAD", headers=dict(TUS))


async def upload_all(fetch: Any, data: bytes, chunk: int, meta: str | None = None) -> tuple[str, Any]:
    """A whole tus upload in PATCHes of ``chunk`` bytes; returns (upload path, last PATCH response)."""
    response, path = await create(fetch, len(data), meta=meta)
    assert response.code == 201, response.body
    last = None
    for start in range(0, len(data), chunk):
        last = await patch(fetch, path, start, data[start:start + chunk])
        assert last.code == 204, last.body
    return path, last
