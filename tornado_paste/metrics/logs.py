"""Process logging: text or JSON lines, the request id on every line, secrets redacted, repeats rate-limited.

``configure_logging`` is called once by run.py. Every record goes through one stderr handler with:

- a formatter: ``TextFormatter`` (one readable line) or ``JSONFormatter`` (one JSON object per line:
  ``ts``, ``level``, ``logger``, ``msg``, ``pid``, ``request_id`` and the access fields);
- ``redact``: query parameters named like token/secret/password/key, and X-Delete-Token /
  Authorization header values, become ``[redacted]`` in every message and traceback;
- ``RepeatFilter``: the same warning or error (same logger, template, line and exception type) is
  written at most once per interval; the next one written says how many were suppressed, and
  ``flush`` (at shutdown) writes what is still pending.

The request id of the request being handled is in the ``REQUEST_ID`` context variable (set by
handlers/base.py), so a warning logged while handling a request carries it too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

SECRET_NAME = re.compile(r"token|secret|password|passwd|key|auth", re.IGNORECASE)
_QUERY_SECRET = re.compile(r"(?P<name>[?&;](?:[^=&;\s'\"]*?)(?:token|secret|password|passwd|key|auth)"
                           r"[^=&;\s'\"]*=)[^&;\s'\"]*", re.IGNORECASE)
_HEADER_SECRET = re.compile(r"(?P<name>(?:x-delete-token|authorization|cookie)['\"]?\s*[:=]\s*['\"]?)"
                            r"[^'\",\r\n]+", re.IGNORECASE)
REDACTED = "[redacted]"
# Fields an access line adds (handlers/base.py passes them as ``extra={"access": {...}}``).
ACCESS = "access"


def redact(text: str) -> str:
    """``text`` with secret query values and secret header values replaced by ``[redacted]``."""
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group("name") + REDACTED, text)
    return _HEADER_SECRET.sub(lambda m: m.group("name") + REDACTED, text)


def redact_query(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Query parameters with the value of every secret-looking name replaced."""
    return [(name, REDACTED if SECRET_NAME.search(name) else value) for name, value in pairs]


def _request_id(record: logging.LogRecord) -> str | None:
    access = getattr(record, ACCESS, None)
    if isinstance(access, dict) and access.get("request_id"):
        return access["request_id"]
    return REQUEST_ID.get()


def _suffix(record: logging.LogRecord) -> str:
    suppressed = getattr(record, "suppressed", 0)
    return f" (... suppressed {suppressed} times)" if suppressed else ""


class TextFormatter(logging.Formatter):
    """``<time> <pid> <LEVEL> <logger>: <message> [rid=<id>]``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        head, sep, rest = line.partition("\n")  # a traceback follows the first line
        rid = _request_id(record)
        head = head + _suffix(record) + (f" rid={rid}" if rid else "")
        return redact(head + sep + rest)


class JSONFormatter(logging.Formatter):
    """One JSON object per line; never a raw newline inside (tracebacks are a string field)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00",
                                                                                                          "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "pid": record.process,
        }
        rid = _request_id(record)
        if rid:
            out["request_id"] = rid
        access = getattr(record, ACCESS, None)
        if isinstance(access, dict):
            out.update({k: v for k, v in access.items() if k not in out})
        if getattr(record, "suppressed", 0):
            out["suppressed"] = record.suppressed  # type: ignore[attr-defined]
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class RepeatFilter(logging.Filter):
    """Let the same warning/error through at most once per ``interval`` seconds, counting the rest.

    The key is (logger, level, message template, source line, exception types): a flood of one
    failure on many paths is one key; two different failures are two. The first record of a new
    interval carries ``suppressed`` = how many were held back in the last one.
    """

    MAX_KEYS = 2048

    def __init__(self, interval: float, level: int = logging.WARNING, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self.clock = clock
        self._seen: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()  # key -> [since, held, last record]

    @staticmethod
    def key(record: logging.LogRecord) -> tuple[Any, ...]:
        args = record.args if isinstance(record.args, tuple) else ()
        errors = tuple(type(a).__name__ for a in args if isinstance(a, BaseException))
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
        return record.name, record.levelno, str(record.msg), record.pathname, record.lineno, errors, exc

    def filter(self, record: logging.LogRecord) -> bool:
        if self.interval <= 0 or record.levelno < self.level or getattr(record, "suppressed", 0):
            return True
        key = self.key(record)
        now = self.clock()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            entry[2] = record
            return False
        if entry is not None and entry[1]:
            record.suppressed = entry[1]
        self._seen[key] = [now, 0, None]
        self._seen.move_to_end(key)
        while len(self._seen) > self.MAX_KEYS:
            self._seen.popitem(last=False)
        return True

    def pending(self) -> list[logging.LogRecord]:
        """The last held-back record of every key with a count, marked ``suppressed`` (and forgotten)."""
        out = []
        for entry in self._seen.values():
            if entry[1] and entry[2] is not None:
                record = entry[2]
                record.suppressed = entry[1]
                out.append(record)
                entry[1], entry[2] = 0, None
        return out


class _Handler(logging.StreamHandler):
    repeat: RepeatFilter


def configure_logging(level: str = "INFO", fmt: str = "text", repeat_interval: float = 60.0,
                      stream: Any = None) -> logging.Handler:
    """Install the one stderr handler on the root logger (replacing any) and return it."""
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    handler.repeat = RepeatFilter(repeat_interval)
    handler.addFilter(handler.repeat)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Our access line (handlers/base.py: route, request id, redacted query) replaces Tornado's.
    logging.getLogger("tornado.access").disabled = True
    return handler


def flush_repeats(handler: logging.Handler) -> None:
    """Write the "suppressed N times" lines still pending (at shutdown)."""
    repeat = getattr(handler, "repeat", None)
    if repeat is not None:
        for record in repeat.pending():
            handler.handle(record)
