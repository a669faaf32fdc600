"""The preconditions Tornado's StaticFileHandler leaves out: ``If-Match`` and ``If-Range`` (RFC 9110 §13).

``If-None-Match`` and ``If-Modified-Since`` are Tornado's (304). Ours, for ``/i/`` and ``/d/``:

- ``If-Match`` (§13.1.1): a list of entity tags, or ``*``; compared strongly (a weak tag never
  matches). False: 412 Precondition Failed, before any byte is read.
- ``If-Range`` (§13.1.5): a Range is honoured only while the validator still names this
  representation (a strong entity tag equal to ours, or the exact Last-Modified date);
  otherwise the Range is dropped and the whole file answers 200.
"""

from __future__ import annotations

import email.utils
import functools
from datetime import datetime


@functools.lru_cache(maxsize=4096)
def http_date(seconds: int) -> str:
    """Last-Modified for a whole-second time (formatting a date per request was a visible cost)."""
    return email.utils.formatdate(seconds, usegmt=True)


def _tags(header: str) -> list[str]:
    return [part.strip() for part in header.split(",") if part.strip()]


def if_match_fails(header: str | None, etag: str) -> bool:
    """True when an ``If-Match`` header is present and no tag in it strongly matches ``etag``."""
    if header is None:
        return False
    tags = _tags(header)
    if "*" in tags:
        return False  # the file exists
    return etag not in tags  # strong comparison: W/"x" never equals "x"


def if_range_keeps_range(header: str | None, etag: str, last_modified: datetime | None) -> bool:
    """Whether the Range of a request carrying this ``If-Range`` may be honoured."""
    if header is None:
        return True
    value = header.strip()
    if value.startswith("W/"):
        return False  # weak validators are never good enough for a range
    if value.startswith('"'):
        return value == etag
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    if when is None or last_modified is None:
        return False
    if when.tzinfo is None or last_modified.tzinfo is None:
        when, last_modified = when.replace(tzinfo=None), last_modified.replace(tzinfo=None)
    return int(when.timestamp()) == int(last_modified.timestamp())
