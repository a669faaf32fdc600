"""Secrets never reach a log: query parameters that carry them are redacted wherever a URI is logged.

Delete tokens may be sent as ``?token=`` (``X-Delete-Token`` is preferred, and headers are never
logged); Tornado's access log, its warnings and its tracebacks all name the request URI, so every
one of them goes through ``redact_uri`` (``BaseHandler._request_summary``). nginx's access log
leaves the query string out altogether (``log_format paste`` in nginx.conf).
"""

from __future__ import annotations

import re
import urllib.parse

# Names like token, delete_token, manage_token, password, client_secret, api_key, sig...
SECRET_NAME = re.compile(r"token|secret|passw|pwd|api_?key|auth|sig|credential|session", re.IGNORECASE)
REDACTED = "[redacted]"
# Paths that are capabilities themselves: an upload-request link (/u/<code>) lets whoever holds it upload.
CAPABILITY_PATH = re.compile(r"^(/u/)[^/?#]+")


def redact_query(query: str) -> str:
    """``a=1&token=s3cret`` -> ``a=1&token=[redacted]``; everything else as it was sent."""
    out = []
    for piece in query.split("&"):
        name, eq, _value = piece.partition("=")
        if eq and SECRET_NAME.search(urllib.parse.unquote_plus(name)):
            piece = f"{name}={REDACTED}"
        out.append(piece)
    return "&".join(out)


def redact_path(path: str) -> str:
    """A request path fit for a log line: the code of a capability path (``/u/<code>``) replaced."""
    return CAPABILITY_PATH.sub(r"\g<1>" + REDACTED, path)


def redact_uri(uri: str | None) -> str:
    """A request URI fit for a log line: secret query values replaced by ``[redacted]``."""
    if not uri:
        return uri or ""
    path, sep, query = uri.partition("?")
    path = redact_path(path)
    return path + sep + redact_query(query) if sep else path


def loggable_protocol_error(text: str) -> str:
    """Tornado's header-parse errors quote the offending value (``Invalid header value 'tok…'``):
    a header such as X-Delete-Token may hold a secret, so the value is left out of the log."""
    return re.sub(r"(Invalid header value)\b.*", r"\1 (value not logged)", text, flags=re.S)
