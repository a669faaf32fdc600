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

import errno
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.ioloop
import tornado.iostream
from tornado.http1connection import HTTP1Connection, is_transfer_encoding_chunked

from handlers.redact import loggable_protocol_error

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
        log.info("refused malformed request body from %s: %s", self.context, loggable_protocol_error(text))
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
        log.info("refused malformed request from %s: %s", self.context, loggable_protocol_error(message))
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
            log.info("refused malformed request from %s: %s", self.context,
                     loggable_protocol_error(refused.message))
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


# -- accepting when the process is out of file descriptors -------------------------------------
# accept() failing for want of descriptors: the pending connection stays queued, the socket stays
# readable, and Tornado's accept handler raised (and asyncio logged a traceback) on every loop turn:
# 66,513 tracebacks (41 MB of log) in 30 s of a WebSocket flood, at 100% CPU.
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_PAUSE_MIN = 0.05  # seconds the listener stops reading after such an error (doubling) ...
ACCEPT_PAUSE_MAX = 1.0  # ... up to this
ACCEPT_LOG_INTERVAL = 10.0  # at most one line per interval, with the count of errors in between
ACCEPT_BATCH = 128  # connections accepted per readable event at most (Tornado's listen backlog)


class _AcceptGuard:
    """``tornado.netutil.add_accept_handler`` for one listening socket, except that EMFILE/ENFILE
    (and ENOBUFS/ENOMEM) pause accepting for a short, growing time instead of failing in a tight loop,
    and are logged once per ``ACCEPT_LOG_INTERVAL`` with the number of errors since the last line."""

    def __init__(self, sock: socket.socket, callback: Callable[[socket.socket, Any], None],
                 on_pause: Callable[[], None] | None = None) -> None:
        self.sock = sock
        self.callback = callback
        self.on_pause = on_pause
        self.io_loop = tornado.ioloop.IOLoop.current()
        self.removed = False
        self.paused = False
        self.delay = ACCEPT_PAUSE_MIN
        self.errors = 0  # since the last log line
        self.last_log = float("-inf")
        self._timer: object | None = None
        self.io_loop.add_handler(sock, self._accept, tornado.ioloop.IOLoop.READ)

    def _accept(self, _fd: Any, _events: int) -> None:
        # As Tornado's own: at most a backlog's worth per call, so other callbacks are not starved.
        for _ in range(ACCEPT_BATCH):
            if self.removed or self.paused:
                return
            try:
                connection, address = self.sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in OUT_OF_DESCRIPTORS:
                    raise
                self._pause(exc)
                return
            if self.errors and time.monotonic() - self.last_log >= ACCEPT_LOG_INTERVAL:
                log.warning("accepting connections on %s again (%d accept errors since the last message)",
                            _where(self.sock), self.errors)
                self.errors = 0
                self.last_log = time.monotonic()
            self.delay = ACCEPT_PAUSE_MIN
            self.callback(connection, address)

    def _pause(self, exc: OSError) -> None:
        self.errors += 1
        self.paused = True
        self.io_loop.remove_handler(self.sock)
        self._timer = self.io_loop.call_later(self.delay, self._resume)
        now = time.monotonic()
        if now - self.last_log >= ACCEPT_LOG_INTERVAL:
            log.warning("cannot accept connections on %s: %s; pausing accepts, up to %.1fs at a time "
                        "(accept errors since the last message: %d)", _where(self.sock),
                        exc.strerror or exc, ACCEPT_PAUSE_MAX, self.errors)
            self.errors = 0
            self.last_log = now
        self.delay = min(ACCEPT_PAUSE_MAX, self.delay * 2)
        if self.on_pause is not None:
            self.on_pause()

    def _resume(self) -> None:
        self._timer = None
        if self.removed or not self.paused:
            return
        self.paused = False
        self.io_loop.add_handler(self.sock, self._accept, tornado.ioloop.IOLoop.READ)

    def remove(self) -> None:
        """What ``add_accept_handler``'s returned callable does (TCPServer.stop calls it)."""
        if self.removed:
            return
        self.removed = True
        if self._timer is not None:
            self.io_loop.remove_timeout(self._timer)
            self._timer = None
        if not self.paused:
            self.io_loop.remove_handler(self.sock)


def _where(sock: socket.socket) -> str:
    try:
        name = sock.getsockname()
    except OSError:
        return "a listening socket"
    return f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name)


class GuardedHTTPServer(tornado.httpserver.HTTPServer):
    """HTTPServer whose connections answer protocol errors in JSON (see the module docstring) and
    whose listeners back off when the process runs out of file descriptors (``_AcceptGuard``)."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_header_size", HEADER_READ_CAP)
        super().initialize(*args, **kwargs)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        # TCPServer.add_sockets with our accept handler instead of tornado.netutil.add_accept_handler.
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = _AcceptGuard(sock, self._handle_connection, self._accept_paused).remove

    def _accept_paused(self) -> None:
        services = getattr(self.request_callback, "settings", {}).get("services")
        if services is not None:
            services.metrics.incr("accept.paused")

    def start_request(self, server_conn: object, request_conn: tornado.httputil.HTTPConnection
                      ) -> tornado.httputil.HTTPMessageDelegate:
        # Tornado builds a plain HTTP1Connection per request; give it our error answers.
        delegate = super().start_request(server_conn, request_conn)
        if type(request_conn) is HTTP1Connection:
            request_conn.__class__ = _GuardedConnection
            return _GuardedDelegate(delegate, request_conn)
        return delegate
