"""Cleaning client-supplied filenames: keep what people typed, drop what could hurt."""

from __future__ import annotations

import os
import unicodedata
from datetime import datetime

MAX_FILENAME_BYTES = 200


def clean_filename(raw: str | bytes | None, default_ext: str = "") -> str:
    """A display/download name from a client's claim.

    Keeps Unicode; removes directories (both separators), control characters
    (CR/LF included, so the name can never split a header) and surrounding
    dots/space; truncates to 200 UTF-8 bytes keeping the extension; falls back
    to ``file<ext>``.
    """
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    # NFC after dropping invisible characters, which could sit between a letter and its accent.
    name = _strip_edges(unicodedata.normalize("NFC", name))
    if not name:
        return "file" + default_ext
    return _truncate(name, MAX_FILENAME_BYTES)


# What clients send as the name of piped input: curl -F file=@- and curl -T - say "-".
STDIN_NAMES = frozenset({"-"})


def upload_filename(raw: str | bytes | None, default_ext: str, now: datetime) -> str:
    """The stored name of an upload: ``clean_filename``, except that piped input (``-``) is named
    from its sniffed type and the time, ``paste-20261201-2130.png``."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if raw is not None and raw.strip() in STDIN_NAMES:
        return f"paste-{now:%Y%m%d-%H%M}{default_ext}"
    return clean_filename(raw, default_ext)


def _truncate(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    budget = limit - len(ext.encode("utf-8"))
    out = _strip_edges(stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore"))
    return (out or "file") + ext


def _strip_edges(name: str) -> str:
    """Strip whitespace and dots until none is left at either end (". . ." was cleaned to ".").

    Repeating until stable also makes cleaning idempotent: a cleaned name cleans to itself.
    """
    while True:
        stripped = name.strip().strip(".")
        if stripped == name:
            return name
        name = stripped
