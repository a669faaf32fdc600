"""tus 1.0.0 over HTTP at ``/api/v1/tus/``: parse headers, stream bodies into the core, render headers.

All protocol decisions live in ``tornado_paste.tus.service``; this module maps them to
status codes and headers. Bodies (PATCH, and POST for creation-with-upload)
stream with ``@stream_request_body`` straight into a ``PatchSession``.

Besides tus' own headers, the response that completes an upload (last PATCH,
creation-with-upload of a whole file, or a final concatenation) carries
``X-File-Location: <base>/api/v1/files/<filehash>`` (tus already uses
``Location`` for the upload URL on POST) and, when the bytes made a new file,
``X-Delete-Token``; ``HEAD`` of a finished upload repeats ``X-File-Location``.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import urllib.parse
from typing import Any

import tornado.web

from handlers.base import APIError
from handlers.upload_guard import UploadGuard, UploadRefused
from tornado_paste.core.ingest import IngestError, IngestResult
from tornado_paste.core.records import TusState
from tornado_paste.storage.blobs.local import StorageFull
from tornado_paste.tus.protocol import (
    CHECKSUMS,
    EXTENSIONS,
    TUS_VERSION,
    ChecksumMismatch,
    TusError,
    parse_checksum,
    parse_nonnegative,
)
from tornado_paste.tus.service import PatchResult, PatchSession

OFFSET_STREAM = "application/offset+octet-stream"
_OVERRIDABLE = {"PATCH", "DELETE", "HEAD", "OPTIONS", "POST"}
# Interrupted PATCHes keep their bytes in the background; hold the tasks so they are not collected.
_background: set[asyncio.Future[Any]] = set()


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def _encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" if v else k for k, v in metadata.items())


class TusHandler(UploadGuard):
    route_name = "tus"
    session: PatchSession | None = None
    refusal: BaseException | None = None

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Tus-Resumable", TUS_VERSION)
        self.set_header("Cache-Control", "no-store")
        # tus answers have no body: no Tornado default text/html (errors set their JSON type themselves).
        self.clear_header("Content-Type")

    def compute_etag(self) -> str | None:
        return None  # an ETag of the empty body names nothing

    @property
    def tus(self) -> Any:
        return self.services.tus

    @property
    def client_address(self) -> str:
        """Whom the per-client caps on open uploads count this request for."""
        return self.request.remote_ip or "unknown"

    def upload_url(self, upload_id: str) -> str:
        return f"{self.services.links.base}/api/v1/tus/{upload_id}"

    async def prepare(self) -> None:
        super().prepare()
        override = self.request.headers.get("X-HTTP-Method-Override")
        if override and self.request.method == "POST":
            method = override.strip().upper()
            if method not in _OVERRIDABLE:
                raise APIError(400, "bad_method_override", f"X-HTTP-Method-Override: {override!r} is not supported")
            self.request.method = method
        if self.request.method != "OPTIONS" and self.request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise APIError(412, "unsupported_tus_version", f"this server speaks tus {TUS_VERSION} "
                           "(send Tus-Resumable: 1.0.0)", headers={"Tus-Version": TUS_VERSION})
        await self.prepare_tus()

    async def prepare_tus(self) -> None:
        """Per-method work before the body arrives."""

    def options(self, *args: str) -> None:
        self.set_header("Tus-Version", TUS_VERSION)
        self.set_header("Tus-Extension", ",".join(EXTENSIONS))
        self.set_header("Tus-Max-Size", str(self.tus.max_size))
        self.set_header("Tus-Checksum-Algorithm", ",".join(CHECKSUMS))
        self.set_status(204)
        self.finish()

    # -- bodies ---------------------------------------------------------------
    def offset_stream_body(self) -> bool:
        """True when a body is coming; 415 unless it is application/offset+octet-stream."""
        length = self.request.headers.get("Content-Length", "0").strip()
        chunked = "chunked" in self.request.headers.get("Transfer-Encoding", "").lower()
        if not chunked and length in ("", "0"):
            return False
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != OFFSET_STREAM:
            raise APIError(415, "unsupported_content_type", f"tus bodies must be sent as {OFFSET_STREAM}")
        return True

    async def open_session(self, upload_id: str, offset: int, new_length: int | None = None) -> None:
        checksum = parse_checksum(self.request.headers.get("Upload-Checksum"))
        self.session = await self.tus.begin_patch(upload_id, offset, checksum, new_length)
        raw = (self.request.headers.get("Content-Length") or "").strip()
        declared = int(raw) if raw.isascii() and raw.isdigit() else None
        try:
            if declared is not None and declared > self.session.room:
                raise APIError(413, "too_large", "the body goes beyond the upload's length or the size limit")
            self.admit(declared)
        except BaseException:
            await self.drop_session()
            raise

    # -- the same abuse controls as every upload body (handlers/upload_guard.py) --------------
    def body_received(self) -> int:
        return self.session.received if self.session is not None else 0

    def on_stalled(self, reason: str, code: str, message: str) -> None:
        """A stalled PATCH body is cut, but what arrived is kept and the upload unlocked.

        Without this a client whose network vanished silently would keep the
        upload locked (its lease renewed) and every resume would get 423.
        """
        session, self.session = self.session, None
        if session is None:
            return
        self.services.ingestor.count_refusal(reason)
        self._in_background(session.interrupted())
        self.send_stalled(code, message + "; HEAD, then resume")

    async def data_received(self, chunk: bytes) -> None:
        session = self.session
        if session is None or self.refusal is not None:
            return
        try:
            self.reserve(session.received + len(chunk))
            pending = session.write(chunk)
            if pending is not None:
                await self.wait_for_disk(pending)  # backpressure: the disk is behind the network
        except UploadRefused as exc:  # the client's share or the byte budget, mid-body
            self.services.ingestor.count_refusal(exc.reason)
            self.refusal = exc
        except (IngestError, TusError, StorageFull, OSError, ValueError) as exc:
            self.refusal = exc

    async def commit_session(self, new_length: int | None = None) -> PatchResult:
        session, self.session = self.session, None
        assert session is not None
        self.release_upload()
        if self.refusal is not None:
            await session.close()
            raise self.refusal
        return await session.commit(new_length)

    async def drop_session(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    def _in_background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        _background.add(task)
        task.add_done_callback(_background.discard)

    def on_connection_close(self) -> None:
        # The client went away mid-body: keep (and commit) what arrived, release the lock.
        session, self.session = self.session, None
        if session is not None:
            self._in_background(session.interrupted())
        self.release_upload()
        super().on_connection_close()

    def on_finish(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            self._in_background(session.close())
        self.release_upload()
        super().on_finish()

    # -- answers --------------------------------------------------------------
    def upload_headers(self, state: TusState) -> None:
        self.set_header("Upload-Offset", str(state.offset))
        if state.length is None:
            self.set_header("Upload-Defer-Length", "1")
        else:
            self.set_header("Upload-Length", str(state.length))
        if not state.done:
            self.set_header("Upload-Expires", _http_date(state.expires_at))
        if state.filehash:
            self.set_header("X-File-Location", f"{self.services.links.base}/api/v1/files/{state.filehash}")

    def file_headers(self, result: IngestResult | None) -> None:
        if result is None:
            return
        self.set_header("X-File-Location", self.services.links.api(result.record))
        if result.delete_token:
            self.set_header("X-Delete-Token", result.delete_token)

    # -- errors ---------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if self.request.method == "HEAD":
            self.finish()  # HEAD answers carry no body
            return
        super().write_error(status_code, **kwargs)


@tornado.web.stream_request_body
class TusCollectionHandler(TusHandler):
    """``/api/v1/tus/``: OPTIONS (capabilities) and POST (creation, creation-with-upload, concatenation)."""

    final_parts: list[str] | None = None
    created: TusState | None = None

    async def prepare_tus(self) -> None:
        if self.request.method != "POST":
            return
        if self.services.settings.share_passwords_required:
            # tus metadata is not a place for a password (it is not a secret there): such uploads go as POST/PUT.
            raise APIError(400, "password_required", "this service requires a password on every upload; "
                           "send it with POST / (field password) or PUT (X-Paste-Password)")
        headers = self.request.headers
        self.metadata = self.tus.parse_metadata(headers.get("Upload-Metadata"))
        concat = (headers.get("Upload-Concat") or "").strip()
        length = parse_nonnegative(headers.get("Upload-Length"), "Upload-Length")
        defer = headers.get("Upload-Defer-Length")
        if concat.startswith("final;") or concat == "final":
            if length is not None or defer is not None:
                raise APIError(400, message="a final upload takes no Upload-Length (it is the sum of its parts)")
            self.final_parts = [self._part_id(url) for url in concat[len("final;"):].split()]
            if self.offset_stream_body():
                raise APIError(400, message="a final upload takes no body")
            return
        if concat not in ("", "partial"):
            raise APIError(400, message="Upload-Concat must be 'partial' or 'final;<upload URLs>'")
        if defer is not None and defer.strip() != "1":
            raise APIError(400, message="Upload-Defer-Length must be 1")
        if (length is None) == (defer is None):
            raise APIError(400, "length_required", "send exactly one of Upload-Length and Upload-Defer-Length: 1")
        has_body = self.offset_stream_body()
        self.created = await self.tus.create(length, self.metadata, "partial" if concat == "partial" else None,
                                             client=self.client_address)
        if has_body or length == 0:
            await self.open_session(self.created.id, 0)

    @staticmethod
    def _part_id(url: str) -> str:
        path = urllib.parse.urlsplit(url).path.rstrip("/")
        if "/api/v1/tus/" not in path + "/":
            raise APIError(400, message=f"{url!r} is not an upload of this server")
        return path.rsplit("/", 1)[-1]

    async def post(self) -> None:
        if self.final_parts is not None:
            outcome = await self.tus.create_final(self.final_parts, self.metadata, self.client_address)
            self.set_header("Upload-Concat", "final;" + " ".join(
                urllib.parse.urlsplit(self.upload_url(p)).path for p in outcome.state.parts))
        else:
            assert self.created is not None
            outcome = PatchResult(self.created)
            if self.session is not None:
                try:
                    outcome = await self.commit_session()
                except ChecksumMismatch:
                    # The upload exists; the client learns its URL and resumes from offset 0.
                    outcome = PatchResult(self.created)
        self.set_header("Location", self.upload_url(outcome.state.id))
        self.upload_headers(outcome.state)
        self.file_headers(outcome.result)
        self.set_status(201)
        self.finish()


@tornado.web.stream_request_body
class TusUploadHandler(TusHandler):
    """``/api/v1/tus/<id>``: HEAD (offset), PATCH (append), DELETE (termination), OPTIONS."""

    SUPPORTED_METHODS = ("HEAD", "PATCH", "DELETE", "OPTIONS", "POST")
    new_length: int | None = None

    async def prepare_tus(self) -> None:
        if self.request.method != "PATCH":
            return
        upload_id = self.path_args[0]
        headers = self.request.headers
        ctype = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != OFFSET_STREAM:
            raise APIError(415, "unsupported_content_type", f"PATCH bodies must be sent as {OFFSET_STREAM}")
        offset = parse_nonnegative(headers.get("Upload-Offset"), "Upload-Offset")
        if offset is None:
            raise APIError(400, message="PATCH needs Upload-Offset")
        self.new_length = parse_nonnegative(headers.get("Upload-Length"), "Upload-Length")
        await self.open_session(upload_id, offset, self.new_length)

    async def head(self, upload_id: str) -> None:
        state = await self.tus.status(upload_id)
        self.upload_headers(state)
        if state.metadata:
            self.set_header("Upload-Metadata", _encode_metadata(state.metadata))
        if state.concat == "partial":
            self.set_header("Upload-Concat", "partial")
        elif state.concat == "final":
            self.set_header("Upload-Concat", "final;" + " ".join(
                urllib.parse.urlsplit(self.upload_url(p)).path for p in state.parts))
        self.set_status(200)
        self.finish()

    async def patch(self, upload_id: str) -> None:
        outcome = await self.commit_session(self.new_length)
        self.upload_headers(outcome.state)
        self.file_headers(outcome.result)
        self.set_status(204)
        self.finish()

    async def delete(self, upload_id: str) -> None:
        await self.tus.terminate(upload_id)
        self.set_status(204)
        self.finish()

    def post(self, upload_id: str) -> None:
        raise APIError(405, message="POST an upload URL only with X-HTTP-Method-Override",
                       headers={"Allow": "HEAD, PATCH, DELETE, OPTIONS"})
