"""The HTTP calls of the client (tornado's AsyncHTTPClient): multipart upload, card, delete."""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
from collections.abc import Callable
from typing import IO, Any

import tornado.httpclient

# Progress callbacks get the bytes sent so far.
Progress = Callable[[int], None]
READ_SIZE = 256 * 1024
TIMEOUT = 3600.0


class ClientError(Exception):
    """The server refused (its JSON error message), or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def error_of(response: tornado.httpclient.HTTPResponse) -> ClientError:
    try:
        message = json.loads(response.body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = (response.body or b"").decode("utf-8", "replace")[:200] or response.reason
    return ClientError(f"{response.code} {message}", response.code)


class Server:
    """One tornado-paste server, by its public URL."""

    def __init__(self, base: str, http: tornado.httpclient.AsyncHTTPClient | None = None) -> None:
        self.base = base.rstrip("/")
        self.http = http or tornado.httpclient.AsyncHTTPClient()

    async def call(self, url: str, method: str = "GET", ok: tuple[int, ...] = (200,), **kw: Any
                   ) -> tornado.httpclient.HTTPResponse:
        kw.setdefault("request_timeout", TIMEOUT)
        kw.setdefault("follow_redirects", False)
        if method in ("POST", "PUT", "PATCH") and kw.get("body") is None and "body_producer" not in kw:
            kw["body"] = b""
        try:
            response = await self.http.fetch(url if "://" in url else self.base + url, method=method,
                                             raise_error=False, **kw)
        except OSError as exc:
            raise ClientError(f"cannot reach {self.base}: {exc}") from exc
        if response.code == 599:
            raise ClientError(f"cannot reach {self.base}: {response.error}")
        if response.code not in ok:
            raise error_of(response)
        return response

    async def upload_form(self, stream: IO[bytes], size: int, filename: str, fields: dict[str, str],
                          progress: Progress | None = None) -> dict[str, Any]:
        """One multipart POST /, streamed from ``stream`` (``size`` bytes); returns the card."""
        boundary = "tp-client-" + secrets.token_hex(12)
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items())
        quoted = filename.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        async def produce(write: Callable[[bytes], Any]) -> None:
            await write(head)
            sent = 0
            while chunk := stream.read(READ_SIZE):
                await write(chunk)
                sent += len(chunk)
                if progress:
                    progress(sent)
            await write(tail)

        response = await self.call("/", "POST", ok=(200, 201), body_producer=produce,
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                            "Content-Length": str(len(head) + size + len(tail)),
                                            "Accept": "application/json"})
        return json.loads(response.body)

    async def resolve(self, link: str) -> str:
        """A short link (``/s/<code>``) followed to the file's own link; anything else as it is."""
        if "/s/" not in urllib.parse.urlsplit(link).path:
            return link
        response = await self.call(link, ok=(301, 302, 303, 307, 308))
        return urllib.parse.urljoin(link, response.headers["Location"]) + (
            "#" + urllib.parse.urlsplit(link).fragment if urllib.parse.urlsplit(link).fragment else "")

    async def card(self, filehash: str) -> dict[str, Any]:
        response = await self.call(f"/api/v1/files/{urllib.parse.quote(filehash)}",
                                   headers={"Accept": "application/json"})
        return json.loads(response.body)

    async def delete(self, filehash: str, token: str) -> None:
        await self.call(f"/api/v1/files/{urllib.parse.quote(filehash)}", "DELETE",
                        headers={"X-Delete-Token": token, "Accept": "application/json"})


def filehash_of(link: str) -> tuple[str, str | None]:
    """(filehash, token or None) from a delete link (``/delete/<filehash>#<token>``), a file link or a filehash."""
    parts = urllib.parse.urlsplit(link)
    path = parts.path.rstrip("/") if parts.scheme else link.split("#")[0]
    token = urllib.parse.unquote(parts.fragment) if parts.fragment else None
    if not token and parts.query:
        token = urllib.parse.parse_qs(parts.query).get("token", [None])[0]
    return os.path.basename(path), token
