"""What every handler shares: JSON errors, content negotiation, core-error mapping."""

from __future__ import annotations

import json
import logging
from typing import Any

import msgpack
import tornado.web

from handlers import cors
from handlers.access_log import request_summary
from handlers.errors import DEFAULT_CODES, APIError, refusal_to_api
from handlers.negotiation import JSON, MSGPACK, choose_api_type, prefers
from handlers.page_headers import set_page_headers
from tornado_paste.limits.ratelimit import Decision, budget_for
from tornado_paste.services import Services

log = logging.getLogger("tornado_paste.access")
app_log = logging.getLogger("tornado.application")

class BaseHandler(tornado.web.RequestHandler):
    # A name for metrics and logs; low cardinality (never the path).
    route_name = "other"
    # Pages answer browsers with HTML errors; everything else is JSON.
    html_errors = False

    @property
    def services(self) -> Services:
        return self.application.settings["services"]

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "strict-origin-when-cross-origin")
        self.clear_header("Server")
        # Errors clear() the headers; the rate-limit ones must survive on every answer.
        rate: Decision | None = getattr(self, "rate_decision", None)
        if rate is not None:
            for name, value in rate.headers().items():
                self.set_header(name, value)
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
        # 410 Gone and 451 (blocked) get a page on every route a browser might follow (/i/ and /d/ links too).
        if (self.html_errors or status_code in (410, 451)) and self.wants_html():
            self.set_header("Content-Type", "text/html; charset=utf-8")
            set_page_headers(self)
            self.set_header("Cache-Control", "no-store")
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
        if metrics.enabled:
            # The request's own clock (from the first byte read), not a handler-side stopwatch.
            status = self.get_status()
            route = self.route_name
            metrics.timing(f"http.{route}.time", self.request.request_time() * 1000)
            metrics.incr(f"http.{route}.status.{status // 100}xx")
            metrics.incr(f"http.{route}.code.{status}")


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

