"""Upload handlers: multipart ``POST /`` and raw-body ``PUT``. Both stream to the core.

Bytes are never buffered whole: each network chunk goes straight into the
core's ``Upload`` (staging file + running sha256). A refusal discovered
mid-body (too large, malformed multipart) throws the staged bytes away at
once; the rest of the body is drained and dropped, so the client can read a
proper JSON error instead of a reset connection.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from handlers.base import APIError
from handlers.deletion import delete_url
from handlers.multipart import BadMultipartType, FormReader, boundary_of
from handlers.negotiation import JSON, MSGPACK, prefers
from handlers.page_headers import set_page_headers
from handlers.upload_guard import UploadGuard
from tornado_paste.core.ingest import IngestError, IngestResult, TooLarge, Upload
from tornado_paste.core.params import truthy
from tornado_paste.errors import reason_of
from tornado_paste.limits.admission import UploadRefused

# Room for multipart boundaries and part headers on top of the file-size limit.
MULTIPART_OVERHEAD = 64 * 1024
# How much of an already-refused body we read and drop so the client sees our answer.
DRAIN_ALLOWANCE = 16 * 1024 * 1024
FORM_FIELDS = ("private", "w", "h", "mode", "format", "upscale", "expires", "max_downloads", "burn", "password")
# Raw PUT uploads send their password here (headers never reach a log).
PASSWORD_HEADER = "X-Paste-Password"
# What an upload can answer with (see UploadResponder.answer).
ANSWER_TYPES = (JSON, MSGPACK, "application/x-msgpack", "text/html", "text/plain")


class UploadResponder(UploadGuard):
    """Shared by every upload handler: size checks before the body, answers after it."""

    upload: Upload | None = None
    refusal: BaseException | None = None
    body_limit = 0
    received = 0

    def refused_early(self, reason: str, error: APIError) -> APIError:
        """Count a refusal decided before any byte was staged (same reasons as the core's)."""
        self.services.ingestor.count_refusal(reason)
        return error

    def check_acceptable(self) -> None:
        """406 before the body is read: answering 406 after storing the file left it behind."""
        accept = self.request.headers.get("Accept", "")
        if accept.strip() and prefers(accept, ANSWER_TYPES) is None:
            raise self.refused_early("not_acceptable", APIError(
                406, message="uploads answer application/json, application/msgpack, text/plain or text/html"))

    def upload_limit(self) -> int:
        """The largest file this upload may be (an upload request may set a lower one)."""
        return self.services.settings.max_upload_size

    def begin_upload(self, source: str) -> Upload:
        return self.services.ingestor.begin(source=source, limit=self.upload_limit())

    def check_declared_length(self, overhead: int) -> None:
        limit = self.upload_limit()
        declared = self.request.headers.get("Content-Length")
        chunked = "chunked" in self.request.headers.get("Transfer-Encoding", "").lower()
        if declared is None and not chunked:
            raise self.refused_early("bad_request", APIError(411, message="send Content-Length or a chunked body"))
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise self.refused_early("bad_request", APIError(400, message="Content-Length is not a number")) \
                    from None
            if length < 0:
                raise self.refused_early("bad_request", APIError(400, message="Content-Length is negative"))
            if length > limit + overhead:
                raise self.refused_early("size", APIError(
                    413, message=f"file exceeds the upload limit of {limit} bytes"))
        self.body_limit = limit + overhead
        self.request.connection.set_max_body_size(limit + overhead + DRAIN_ALLOWANCE)
        self.check_expires(self.get_query_argument("expires", None))
        self.admit(None if declared is None else int(declared))

    def check_expires(self, value: str | None) -> str | None:
        try:
            return self.services.retention.policy.check(value)
        except IngestError as exc:
            raise APIError(400, exc.code, exc.message) from None

    def body_received(self) -> int:
        return self.received

    def on_stalled(self, reason: str, code: str, message: str) -> None:
        """A stalled or trickling body is cut and its bytes dropped."""
        if self.upload is not None and not self.upload.done:
            self.upload.abort(reason)
        else:
            self.services.ingestor.count_refusal(reason)
        self.send_stalled(code, message + "; upload cancelled")

    def refuse(self, exc: BaseException) -> None:
        """Remember why the upload failed mid-body; the staged bytes go at once."""
        if self.refusal is None:
            self.refusal = exc
        if self.upload is not None:
            # Counted once, by the abort: admission refusals under their own reason.
            self.upload.abort(exc.reason if isinstance(exc, UploadRefused) else reason_of(exc))
        if self.ticket is not None:
            self.ticket.shed()  # the staged bytes are gone: so is their share of the budget

    def count_received(self, chunk: bytes) -> bool:
        """Track body bytes; False when the chunk should be dropped (already refused)."""
        self.received += len(chunk)
        if self.refusal is None and self.received > self.body_limit:
            self.refuse(TooLarge(f"file exceeds the upload limit of {self.upload_limit()} bytes"))
        if self.refusal is None:
            try:
                self.reserve(self.received)
            except UploadRefused as exc:
                self.refuse(exc)
        return self.refusal is None

    def on_connection_close(self) -> None:
        # The client went away mid-body: nothing may remain.
        if self.upload is not None and not self.upload.done:
            self.upload.abort("aborted")
        self.release_upload()
        super().on_connection_close()

    def on_finish(self) -> None:
        if self.upload is not None and not self.upload.done:
            # Answered without finishing the upload (a handler-level refusal after begin()).
            self.upload.abort("error" if self.get_status() >= 500 else "bad_request")
        self.release_upload()
        super().on_finish()

    async def finish_upload(self, filename: str | None, private: bool) -> IngestResult:
        if self.refusal is not None:
            raise self.refusal
        assert self.upload is not None
        self.stop_idle_timer()  # the body is complete: nothing left to stall
        retention = self.services.retention
        try:
            choice = self.check_expires(self.expires_choice())
        except APIError:
            self.upload.abort("bad_request")
            raise
        expires_at = self.clamp_expiry(retention.policy.expires_at(self.upload.size, choice))
        shares = self.services.shares.files
        try:
            fields = await shares.new_file_fields(**self.share_options())
        except Exception:
            self.upload.abort("bad_request")
            raise
        self.upload.extra = fields
        # A dedupe hit (the public original of these bytes) keeps its own expiry: a record's lifetime
        # is its uploader's choice alone, and nobody else's upload moves it (nor its limit or password).
        result = await self.upload.finish(filename, private=private, expires_at=expires_at)
        shares.check_created(result.created, fields)
        return result

    def clamp_expiry(self, expires_at: Any) -> Any:
        """Hook: an upload into a collection lives no longer than the collection."""
        return expires_at

    def share_options(self) -> dict[str, Any]:
        """``max_downloads``, ``burn`` (query) and the password (``X-Paste-Password``) of a new upload."""
        return {"max_downloads": self.get_query_argument("max_downloads", None),
                "burn": self.get_query_argument("burn", None),
                "password": self.request.headers.get(PASSWORD_HEADER) or None}

    def expires_choice(self) -> str | None:
        """The client's ``expires`` (query argument; the form handler also reads the form field)."""
        return self.get_query_argument("expires", None)

    def answer(self, result: IngestResult, extra: dict[str, Any] | None = None) -> None:
        """201 + Location for a new file, 200 for known bytes; text for curl, 303 for forms."""
        card = self.services.links.card(result.record, result.delete_token)
        if result.delete_token:
            card["url_delete"] = delete_url(self.services.links, result.record, result.delete_token)
        card.update(extra or {})
        status = 201 if result.created else 200
        if result.created:
            self.set_header("Location", card["url_api"])
        accept = self.request.headers.get("Accept", "")
        agent = self.request.headers.get("User-Agent", "").lower()
        best = prefers(accept, ANSWER_TYPES)
        if best == "text/html" and self.request.method == "POST":
            # A browser form without JavaScript: show the preview page.
            self.redirect(card["url_p"], status=303)
            return
        if best == "text/plain" or (best in (None, JSON) and accept.strip() in ("", "*/*")
                                     and agent.startswith(("curl/", "wget/"))):
            self.set_status(status)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            # Line 1: the short link (what scripts read); line 2, for the uploader only: the delete link.
            self.finish(card["url_s"] + "\n" + (card["url_delete"] + "\n" if "url_delete" in card else ""))
            return
        self.send_data(card, status)


@tornado.web.stream_request_body
class IndexHandler(UploadResponder):
    """``GET /`` is the upload page; ``POST /`` takes a multipart upload (field ``file``)."""

    route_name = "upload_form"
    # A refused no-JavaScript form post shows the site's error page; API clients still get JSON.
    html_errors = True

    def get(self) -> None:
        set_page_headers(self)
        settings = self.services.settings
        self.render("index.html", max_upload_size=settings.max_upload_size, tus_min_size=settings.ui_tus_min_size,
                    concurrency=settings.ui_upload_concurrency,
                    expires_default=getattr(settings, "expires_default", "policy"))

    async def prepare(self) -> None:
        super().prepare()
        if self.request.method != "POST":
            self.route_name = "index"  # the page, timed apart from uploads
            return
        self.check_acceptable()
        self.check_declared_length(MULTIPART_OVERHEAD)
        content_type = self.request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise self.refused_early("bad_request", APIError(
                415, "unsupported_content_type",
                "POST / takes multipart/form-data with a 'file' field; use PUT for raw bodies"))
        try:
            boundary = boundary_of(content_type)
        except BadMultipartType as exc:
            raise self.refused_early("bad_request", APIError(
                400, "bad_multipart", f"malformed multipart Content-Type: {exc}")) from None
        self.upload = self.begin_upload("form")
        self.form = FormReader(boundary, self.upload, FORM_FIELDS)

    async def data_received(self, chunk: bytes) -> None:
        if not self.count_received(chunk):
            return
        try:
            # The parser awaits our disk writes (backpressure), which is not the client stalling.
            await self.wait_for_disk(self.form.feed(chunk))
        except Exception as exc:
            # MalformedMultipart, a field too long, StorageFull, OSError...: answered (400, 507, or
            # 500 for a real bug) once the body ends, instead of a traceback and a dropped connection.
            self.refuse(exc)

    def expires_choice(self) -> str | None:
        return self.field("expires") or super().expires_choice()

    def share_options(self) -> dict[str, Any]:
        options = super().share_options()
        for name in ("max_downloads", "burn", "password"):
            value = self.field(name)
            if value:
                options[name] = value
        return options

    def field(self, name: str) -> str | None:
        return self.form.field(name)

    async def post(self) -> None:
        if self.refusal is None:
            try:
                self.form.close()
                if not self.form.file_complete:
                    raise IngestError("no complete 'file' part in the request")
            except IngestError as exc:
                # A well-formed form without a file is a plain bad request; a cut-off body is malformed.
                self.refuse(exc)
        result = await self.finish_upload(self.form.filename, truthy(self.field("private")))
        await self.after_upload(result)

    async def after_upload(self, result: IngestResult) -> None:
        """Hook for features that act on form fields (crop-resize on upload)."""
        if self.field("w") is not None or self.field("h") is not None:
            # The derivative's card, with its original's inside; a refused resize refuses the upload.
            fields = [self.field(name) for name in ("w", "h", "mode", "format", "upscale")]
            derived = await self.services.images.resize_upload(result, *fields, self.request.remote_ip or "unknown")
            original = self.services.links.card(result.record, result.delete_token)
            self.answer(IngestResult(derived.record, derived.created, derived.delete_token),
                        extra={"original": original})
            return
        self.answer(result)


class RawUploadMixin(UploadResponder):
    """``PUT`` with the file as the whole body (``curl -T``)."""

    def start_raw_upload(self) -> None:
        self.check_acceptable()
        self.check_declared_length(0)
        self.upload = self.begin_upload("put")

    async def data_received(self, chunk: bytes) -> None:
        if self.upload is None or not self.count_received(chunk):
            return
        try:
            pending = self.upload.write(chunk)
            if pending is not None:
                await self.wait_for_disk(pending)
        except Exception as exc:  # TooLarge, StorageFull, OSError: answered once the body ends
            self.refuse(exc)

    async def put(self, filename: str) -> None:
        result = await self.finish_upload(filename, truthy(self.get_query_argument("private", None)))
        self.answer(result)


@tornado.web.stream_request_body
class RawUploadHandler(RawUploadMixin):
    """``PUT /<filename>``."""
    route_name = "upload_put"

    async def prepare(self) -> None:
        super().prepare()
        if self.request.method == "PUT":
            self.start_raw_upload()

    def get(self, *args: Any) -> None:
        raise APIError(404, message="there is nothing at this address")
