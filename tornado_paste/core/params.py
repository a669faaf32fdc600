"""Parsing the small values clients send in query strings, form fields and tus metadata."""

from __future__ import annotations

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def truthy(value: str | None) -> bool:
    """A boolean flag as people write it (``1``, ``true``, ``yes``, ``on``; anything else is false)."""
    return (value or "").strip().lower() in TRUE_WORDS
