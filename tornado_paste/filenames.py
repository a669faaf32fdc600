"""Cleaning client-supplied filenames: keep what people typed, drop what could hurt."""

from __future__ import annotations

import os
import unicodedata

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
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".").strip()
    if not name:
        return "file" + default_ext
    return _truncate(name, MAX_FILENAME_BYTES)


def _truncate(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    budget = limit - len(ext.encode("utf-8"))
    out = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip()
    return (out or "file") + ext
