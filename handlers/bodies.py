"""Small request bodies of the share endpoints: JSON objects, or form fields for curl (``-d a=b``)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from handlers.errors import APIError
from tornado_paste.core.params import truthy

MAX_BODY = 64 * 1024
# Form fields whose values are not strings (curl -d private=1 -d max_files=3).
BOOLEAN_FIELDS = frozenset({"private"})
INTEGER_FIELDS = frozenset({"max_files", "max_bytes", "max_file_size", "max_downloads"})
LIST_FIELDS = frozenset({"allowed_types", "files"})
NULLABLE_FIELDS = frozenset({"password", "max_downloads"})


def parse_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    """A JSON object, or urlencoded fields converted to what the JSON would have held."""
    if len(body) > MAX_BODY:
        raise APIError(413, message=f"the request body exceeds {MAX_BODY} bytes")
    ctype = (content_type or "").split(";")[0].strip().lower()
    if not body.strip():
        return {}
    if ctype == "application/x-www-form-urlencoded":
        return _form(body)
    if ctype not in ("application/json", ""):
        raise APIError(415, "unsupported_content_type", "send application/json (or form fields)")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise APIError(400, "bad_json", "the body must be a JSON object")
    return data


def _form(body: bytes) -> dict[str, Any]:
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise APIError(400, message="form fields must be UTF-8") from None
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in LIST_FIELDS:
            out.setdefault(name, []).extend(v.strip() for v in value.split(",") if v.strip())
        elif name in BOOLEAN_FIELDS:
            out[name] = truthy(value)
        elif name in NULLABLE_FIELDS and value == "":
            out[name] = None
        elif name in INTEGER_FIELDS:
            if not (value.isascii() and value.isdigit() and len(value) < 19):
                raise APIError(400, "bad_parameter", f"'{name}' must be a positive integer")
            out[name] = int(value)
        else:
            out[name] = value
    return out
