"""Errors Tornado raises below the handlers, answered as our JSON errors.

Tornado's HTTP/1 layer answers a request it cannot parse (bad request line,
bad header, non-integer or over-limit ``Content-Length``, broken chunked
framing) with a bare ``HTTP/1.1 400 Bad Request`` and no body, and it closes
the connection silently when the header block is too large. Worse, when a
handler has already answered (an upload refused in ``prepare``) and Tornado
then rejects the body framing, it writes that bare 400 *after* our response:
a second, unrequested response on the connection.

``GuardedHTTPServer`` keeps Tornado's parser and swaps in a connection class
that answers these cases with ``{"error": {"code", "message"}}`` (400, 413 or
431) when no response was started yet, and otherwise just closes the
connection; a wrapper around the request delegate does the same for what
Tornado checks while building the request (Host, query-string size). The two
overridden hooks (``_parse_headers``, ``_read_body``) are private Tornado
methods; tornado is pinned and tests/hostile/test_http.py plus the
request-head fuzzer cover every path, so an upgrade that changes them fails
loudly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.iostream
from tornado.http1connection import HTTP1Connection, is_transfer_encoding_chunked

log = logging.getLogger("tornado_paste.wire")

# Request line + headers we accept (nginx's default large_client_header_buffers is 4 x 8k).
MAX_HEADER_BYTES = 64 * 1024
# Tornado buffers at most this much while looking for the end of the headers; a bigger
# block closes the connection without an answer (that client is not speaking HTTP to us).
HEADER_READ_CAP = 1024 * 1024

_REASONS = {400: "Bad Request", 413: "Content Too Large", 431: "Request Header Fields Too Large"}
_CODES = {400: "bad_request", 413: "too_large", 431: "headers_too_large"}


def error_response(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 JSON error response that closes the connection."""
    body = json.dumps({"error": {"code": _CODES[status], "message": message}}).encode()
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode("latin1") + body


class _GuardedConnection(HTTP1Connection):
    """An HTTP1Connection whose parse errors become JSON answers (see the module docstring)."""

    def _parse_headers(self, data: bytes) -> tuple[str, tornado.httputil.HTTPHeaders]:
        if len(data) > MAX_HEADER_BYTES:
            raise _Refused(431, f"the request line and headers exceed {MAX_HEADER_BYTES} bytes")
        try:
            start_line, headers = super()._parse_headers(data)
            # Tornado checks the request line and Transfer-Encoding only after this returns
            # (for HTTP/1.0, before any hook of ours); check them here so that they are
            # answered in JSON too.
            tornado.httputil.parse_request_start_line(start_line)
            is_transfer_encoding_chunked(headers)
        except tornado.httputil.HTTPInputError as exc:
            raise _Refused(400, f"malformed HTTP request: {exc}") from None
        return start_line, headers

    def _read_body(self, code: int, headers: tornado.httputil.HTTPHeaders,
                   delegate: tornado.httputil.HTTPMessageDelegate) -> Awaitable[None] | None:
        try:
            body = super()._read_body(code, headers, delegate)
        except tornado.httputil.HTTPInputError as exc:
            return self._answer(exc)
        return None if body is None else self._guard(body)

    async def _guard(self, body: Awaitable[None]) -> None:
        try:
            await body
        except tornado.httputil.HTTPInputError as exc:
            await self._answer(exc)

    async def _answer(self, exc: Exception) -> None:
        """Answer a body-framing error once (unless the handler already answered), then close."""
        text = str(exc)
        log.info("refused malformed request body from %s: %s", self.context, text)
        if self._write_finished:
            # The handler answered first (an upload refused in prepare): let that answer
            # reach the client; Tornado closes the connection once it is written.
            await self._finish_future
        elif self._response_start_line is None and self.stream is not None:
            status = 413 if ("too long" in text or "too large" in text) else 400
            try:
                await self.stream.write(error_response(status, f"malformed HTTP request body: {text}"))
            except tornado.iostream.StreamClosedError:
                pass
        self.close()
        # Tornado's request loop ends quietly on this; the handler hears on_connection_close.
        raise tornado.iostream.StreamClosedError()

    def refuse_now(self, status: int, message: str) -> None:
        """Answer a refusal Tornado is about to send as a bare 400, then close the connection."""
        log.info("refused malformed request from %s: %s", self.context, message)
        if self._response_start_line is None and not self._write_finished and self.stream is not None:
            try:
                # A few hundred bytes: the socket takes them at once, before the close below.
                self.stream.write(error_response(status, message)).add_done_callback(_ignore_result)
            except tornado.iostream.StreamClosedError:
                pass
        self.close()

    async def read_response(self, delegate: tornado.httputil.HTTPMessageDelegate) -> bool:
        try:
            return await super().read_response(delegate)
        except _Refused as refused:
            log.info("refused malformed request from %s: %s", self.context, refused.message)
            try:
                await self.stream.write(error_response(refused.status, refused.message))
            except tornado.iostream.StreamClosedError:
                pass
            self.close()
            return False


def _ignore_result(future: Any) -> None:
    future.exception()  # retrieved, so a reset connection is not logged as "never retrieved"


class _GuardedDelegate(tornado.httputil.HTTPMessageDelegate):
    """Tornado validates Host and the query string while building the request, in
    ``headers_received``; its HTTPInputError became a bare 400. We answer first (JSON)."""

    def __init__(self, inner: tornado.httputil.HTTPMessageDelegate, connection: _GuardedConnection) -> None:
        self.inner = inner
        self.connection = connection

    def headers_received(self, start_line: Any, headers: tornado.httputil.HTTPHeaders) -> Awaitable[None] | None:
        try:
            return self.inner.headers_received(start_line, headers)
        except tornado.httputil.HTTPInputError as exc:
            self.connection.refuse_now(400, f"malformed HTTP request: {exc}")
            raise  # Tornado's own bare 400 then finds the connection closed and stops quietly

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        self.inner.finish()

    def on_connection_close(self) -> None:
        self.inner.on_connection_close()


class _Refused(Exception):
    """Raised from header parsing; ``read_response`` turns it into the JSON answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GuardedHTTPServer(tornado.httpserver.HTTPServer):
    """HTTPServer whose connections answer protocol errors in JSON (see the module docstring)."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_header_size", HEADER_READ_CAP)
        super().initialize(*args, **kwargs)

    def start_request(self, server_conn: object, request_conn: tornado.httputil.HTTPConnection
                      ) -> tornado.httputil.HTTPMessageDelegate:
        # Tornado builds a plain HTTP1Connection per request; give it our error answers.
        delegate = super().start_request(server_conn, request_conn)
        if type(request_conn) is HTTP1Connection:
            request_conn.__class__ = _GuardedConnection
            return _GuardedDelegate(delegate, request_conn)
        return delegate
