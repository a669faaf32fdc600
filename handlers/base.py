"""What every handler shares: JSON errors, content negotiation, core-error mapping."""

from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import time
import urllib.parse
from typing import Any

import msgpack
import tornado.httputil
import tornado.web
import tornado.websocket

from handlers import cors
from handlers.access_log import request_summary
from handlers.errors import DEFAULT_CODES, APIError, refusal_to_api
from handlers.negotiation import JSON, MSGPACK, choose_api_type, prefers
from handlers.page_headers import set_page_headers
from handlers.redact import redact_path
from tornado_paste.limits.ratelimit import Decision, budget_for
from tornado_paste.metrics.logs import ACCESS, REQUEST_ID, redact_query
from tornado_paste.services import Services

log = logging.getLogger("tornado_paste.access")
app_log = logging.getLogger("tornado.application")
# A request id we take from nginx or the client (X-Request-Id); anything else is replaced by our own.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_date: tuple[int, str] = (0, "")


def http_now() -> str:
    """The ``Date`` header, formatted once a second (Tornado formatted it for every request)."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, email.utils.formatdate(now, usegmt=True))
    return _date[1]


def _head_as_get(self: tornado.web.RequestHandler, *args: Any, **kwargs: Any) -> Any:
    """HEAD runs the GET handler; Tornado sends its status and headers and drops the body."""
    return self.get(*args, **kwargs)


class BaseHandler(tornado.web.RequestHandler):
    # A name for metrics and logs; low cardinality (never the path).
    route_name = "other"
    # Pages answer browsers with HTML errors; everything else is JSON (but see wants_error_page).
    html_errors = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # HEAD wherever GET is allowed (`curl -I` on /s/, /p/, /r/ ...). StaticFileHandler's own
        # head() (/i/, /d/, /static/) is kept; WebSockets have no HEAD.
        rh = tornado.web.RequestHandler
        if (cls.get is not rh.get and cls.head is rh.head
                and not issubclass(cls, tornado.websocket.WebSocketHandler)):
            cls.head = _head_as_get  # type: ignore[method-assign]

    @property
    def services(self) -> Services:
        return self.application.settings["services"]

    _request_id: str | None = None

    @property
    def request_id(self) -> str:
        """The id of this request: the X-Request-Id nginx (or the client) sent, else a new one."""
        if self._request_id is None:
            given = self.request.headers.get("X-Request-Id")
            # 32 random hex digits, as uuid4().hex looked, at a fraction of its cost.
            self._request_id = given if given and REQUEST_ID_RE.match(given) else os.urandom(16).hex()
        return self._request_id

    def clear(self) -> None:
        # Tornado's clear() (tornado is pinned), minus two per-request costs: the Date is formatted once
        # a second, and no Server header is set only for set_default_headers to take it out again.
        self._headers = tornado.httputil.HTTPHeaders({"Content-Type": "text/html; charset=UTF-8",
                                                      "Date": http_now()})
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = "OK"

    def set_default_headers(self) -> None:
        # Echoed on every answer, errors included (they clear() the headers and come back here).
        headers = self._headers
        # Our own values (constants, and an id REQUEST_ID_RE or os.urandom made): set without
        # set_header's per-value check.
        headers["X-Request-Id"] = self.request_id
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        # Errors clear() the headers; the rate-limit ones must survive on every answer.
        rate: Decision | None = self.rate_decision
        if rate is not None:
            for name, value in rate.headers().items():
                headers[name] = value
        if self.services.settings.cors_origins:
            cors.add_cors_headers(self)

    # -- negotiation ---------------------------------------------------------
    def api_type(self) -> str:
        chosen = choose_api_type(self.request.headers.get("Accept"))
        if chosen is None:
            raise APIError(406, message="this resource is available as application/json or application/msgpack")
        return chosen

    def send_data(self, data: Any, status: int = 200, media_type: str | None = None) -> None:
        """Write ``data`` as JSON or msgpack, as the client asked."""
        media_type = media_type or self.api_type()
        self.set_status(status)
        if media_type == MSGPACK:
            self.set_header("Content-Type", MSGPACK)
            self.finish(msgpack.packb(data, use_bin_type=True))
        else:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def wants_html(self) -> bool:
        return prefers(self.request.headers.get("Accept"), (JSON, "text/html")) == "text/html"

    def wants_error_page(self, status_code: int) -> bool:
        """The site's styled error page instead of JSON, for a client that prefers HTML: on pages,
        for 410 Gone and 451 (blocked) anywhere, and for a 404 on any GET outside /api/ (a deleted
        file's /i/ or /d/ link, a mistyped path)."""
        if not self.wants_html():
            return False
        if self.html_errors or status_code in (410, 451):  # gone, or blocked by the operator
            return True
        return (status_code == 404 and self.request.method in ("GET", "HEAD")
                and not self.request.path.startswith("/api/"))

    # -- errors --------------------------------------------------------------
    def allowed_methods(self) -> list[str]:
        """Methods this handler class implements (for ``Allow`` on 405)."""
        rh = tornado.web.RequestHandler
        return [m for m in self.SUPPORTED_METHODS
                if m != "OPTIONS" and getattr(type(self), m.lower(), None) is not getattr(rh, m.lower(), None)]

    def _handle_request_exception(self, e: BaseException) -> None:
        mapped = refusal_to_api(e)
        if mapped is None:
            super()._handle_request_exception(e)
            return
        if mapped.status_code >= 500:
            log.warning("%s %s: %s", self.request.method, self.request.path, e)
        # Tornado reads sys.exc_info(), so the mapped error must be the one being handled.
        try:
            raise mapped from e
        except APIError as api:
            super()._handle_request_exception(api)

    def _request_summary(self) -> str:
        return request_summary(self)  # tokens in the query never reach a log line

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, APIError) and value.status_code < 500:
            return  # a refused request is not a server problem
        if isinstance(value, APIError) and value.__cause__ is not None:
            return  # a mapped core error: _handle_request_exception logged it once already
        if isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)  # one line, through _request_summary
            return
        # Tornado's own adds repr(self.request), whose uri is the raw query string (tokens): not that.
        app_log.error("Uncaught exception %s", self._request_summary(), exc_info=(typ, value, tb))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        # A refusal that brings its own page for browsers (handlers/guard.py Locked: the unlock form).
        render_page = getattr(exc, "render_page", None)
        if render_page is not None and self.wants_html() and render_page(self):
            return
        if isinstance(exc, APIError):
            code, message = exc.code, exc.message
            for name, value in exc.headers.items():
                self.set_header(name, value)
        elif isinstance(exc, tornado.web.HTTPError):
            code = DEFAULT_CODES.get(status_code, "error")
            message = exc.log_message % exc.args if exc.log_message and exc.args else (
                exc.log_message or self._reason)
        else:
            code, message = DEFAULT_CODES.get(status_code, "error"), self._reason
        if status_code == 405 and not self._headers.get("Allow"):
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.clear_header("Content-Disposition")
        self.clear_header("Cache-Control")
        self.clear_header("ETag")
        if status_code != 416:
            self.clear_header("Content-Range")
        if self.wants_error_page(status_code):
            self.set_header("Content-Type", "text/html; charset=utf-8")
            set_page_headers(self)
            self.set_header("Cache-Control", "no-store")
            self.set_header("X-Robots-Tag", "noindex")
            self.render("error.html", status=status_code, code=code, message=message)
            return
        body = {"error": {"code": code, "message": message}}
        media = choose_api_type(self.request.headers.get("Accept")) or JSON
        if media == MSGPACK:
            self.set_header("Content-Type", MSGPACK)
            self.finish(msgpack.packb(body, use_bin_type=True))
        else:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps(body, ensure_ascii=False))

    # -- bookkeeping ---------------------------------------------------------
    _inflight = False

    rate_decision: Decision | None = None

    def prepare(self) -> None:
        # Every line logged while this request is handled (its own task) carries its id.
        REQUEST_ID.set(self.request_id)
        self._inflight = True
        self.services.inflight += 1
        if cors.is_preflight(self):
            cors.answer_preflight(self)  # before rate limits: a preflight is the browser asking, not the client
            return
        self.check_rate_limit()

    def check_rate_limit(self) -> None:
        """Spend a token of this client's budget for the route; 429 when the bucket is empty."""
        limits = self.services.limits
        budget = budget_for(self.route_name, self.request.method or "GET")
        if budget is None:
            return
        decision = limits.rate.hit(budget, self.request.remote_ip or "unknown")
        if decision is None:
            return
        self.rate_decision = decision
        for name, value in decision.headers().items():
            self.set_header(name, value)
        if not decision.allowed:
            self.services.metrics.incr("ratelimit.limited")
            self.services.metrics.incr(f"ratelimit.limited.{budget}")
            raise APIError(429, "rate_limited",
                           f"too many {budget} requests; retry in {decision.retry_after}s",
                           headers=decision.headers())

    def _leave(self) -> None:
        if self._inflight:
            self._inflight = False
            self.services.inflight -= 1

    def on_connection_close(self) -> None:
        if self._inflight and not self._finished:
            # The client left before we answered: no status to count, but the route lost one.
            self.services.metrics.incr(f"http.{self.route_name}.client_closed")
        self._leave()
        super().on_connection_close()

    def on_finish(self) -> None:
        self._leave()
        metrics = self.services.metrics
        # The request's own clock (from the first byte read), not a handler-side stopwatch.
        millis = self.request.request_time() * 1000
        status = self.get_status()
        if metrics.enabled:
            route = self.route_name
            metrics.timing(f"http.{route}.time", millis)
            metrics.incr(f"http.{route}.status.{status // 100}xx")
            metrics.incr(f"http.{route}.code.{status}")
        if log.isEnabledFor(logging.INFO):
            self.log_access(status, millis)

    def log_access(self, status: int, millis: float) -> None:
        """One line per answered request: id, route, method, path, redacted query, status, duration, client.

        Never a header: X-Delete-Token, Authorization and cookies stay out; query values of secret-looking
        names (token, secret, password, key) are replaced.
        """
        request = self.request
        query = ""
        if request.query:
            query = urllib.parse.urlencode(redact_query(urllib.parse.parse_qsl(request.query, keep_blank_values=True)),
                                           safe="[]")
        path = redact_path(request.path)  # an upload-request link's code is a capability too
        fields = {"request_id": self.request_id, "route": self.route_name, "method": request.method,
                  "path": path, "query": query, "status": status, "duration_ms": round(millis, 1),
                  "client": request.remote_ip}
        target = path + (f"?{query}" if query else "")
        # Tornado's own access format (which this line replaces), plus the route.
        log.info("%d %s %s (%s) %.2fms %s", status, request.method, target, request.remote_ip, millis,
                 self.route_name, extra={ACCESS: fields})


class NotFoundHandler(BaseHandler):
    """Anything no route matched (including traversal attempts like /i/../../etc/passwd)."""

    html_errors = True
    route_name = "not_found"

    def prepare(self) -> None:
        super().prepare()
        raise APIError(404, message="there is nothing at this address")

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        if status_code == 405:
            # Tornado rejects an unknown method before prepare(): that was a 405 with an
            # empty Allow. Nothing is here, whatever the method.
            status_code = 404
            error = APIError(404, message="there is nothing at this address")
            kwargs["exc_info"] = (APIError, error, None)
        super().send_error(status_code, **kwargs)

