"""Resumable uploads with the few tus 1.0 requests a client needs (POST, HEAD, PATCH).

The upload URL of each file in progress is kept in a small JSON state file (keyed by server,
path, size and modification time), so an upload interrupted by a crash, a lost network or
Ctrl-C resumes where the server says it stands (HEAD's ``Upload-Offset``) when the same file
is uploaded again.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from dataclasses import dataclass
from typing import IO, Any

from tornado_paste.client.http import ClientError, Progress, Server

TUS = {"Tus-Resumable": "1.0.0"}


def default_state_file() -> str:
    root = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(root, "tornado-paste", "uploads.json")


class StateFile:
    """``{key: upload URL}`` on disk, rewritten atomically."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def put(self, key: str, url: str | None) -> None:
        data = self._load()
        if url is None:
            data.pop(key, None)
        else:
            data[key] = url
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        temp = f"{self.path}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(temp, self.path)


@dataclass
class TusOutcome:
    card: dict[str, Any]
    delete_token: str | None
    upload_url: str
    resumed_from: int


def _metadata(values: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def tus_upload(server: Server, stream: IO[bytes], size: int, metadata: dict[str, str], key: str | None,
                     state: StateFile | None, chunk_size: int, progress: Progress | None = None) -> TusOutcome:
    """Upload ``size`` bytes of a seekable ``stream``; resume a known upload of the same ``key``."""
    url, offset = None, 0
    if key and state and (known := state.get(key)):
        with contextlib.suppress(ClientError):  # gone (expired, finished, another server): start anew
            head = await server.call(known, "HEAD", headers=TUS)
            if head.headers.get("Upload-Length") == str(size):
                url, offset = known, int(head.headers.get("Upload-Offset", "0"))
    resumed_from = offset
    if url is None:
        created = await server.call("/api/v1/tus/", "POST", ok=(201,), headers={
            **TUS, "Upload-Length": str(size), "Upload-Metadata": _metadata(metadata)})
        url = created.headers["Location"]
        if key and state:
            state.put(key, url)
    if progress:
        progress(offset)
    last = None
    while offset < size or last is None:
        stream.seek(offset)
        body = stream.read(min(chunk_size, size - offset))
        last = await server.call(url, "PATCH", ok=(204,), body=body, headers={
            **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        offset = int(last.headers["Upload-Offset"])
        if progress:
            progress(offset)
        if not body:
            break
    location = last.headers.get("X-File-Location")
    if not location:
        raise ClientError("the server finished the upload but named no file")
    if key and state:
        state.put(key, None)
    filehash = location.rstrip("/").rsplit("/", 1)[-1]
    card = await server.card(filehash)
    return TusOutcome(card, last.headers.get("X-Delete-Token"), url, resumed_from)
