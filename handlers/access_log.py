"""The access log, with secrets taken out of the URLs it prints.

Tornado logs ``request.uri`` (query string included) for every request and in every error
line. Delete tokens may travel in the query (``DELETE /api/v1/files/<x>?token=``,
``GET /delete/<x>?token=``), so the values of the parameters below never reach a log line:
they are printed as ``[redacted]`` (``handlers/redact.py`` says which). Used as the app's
``log_function`` and by ``BaseHandler._request_summary`` (the error lines).
"""

from __future__ import annotations

import logging

import tornado.web

from handlers.redact import redact_uri

access_log = logging.getLogger("tornado.access")

def request_summary(handler: tornado.web.RequestHandler) -> str:
    request = handler.request
    return f"{request.method} {redact_uri(request.uri or '')} ({request.remote_ip})"


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's own access line (status, method, URI, client, time), with the URI redacted."""
    status = handler.get_status()
    if status < 400:
        log_method = access_log.info
    elif status < 500:
        log_method = access_log.warning
    else:
        log_method = access_log.error
    log_method("%d %s %.2fms", status, request_summary(handler), 1000.0 * handler.request.request_time())
