"""Content negotiation for API bodies: JSON by default, msgpack on request."""

from __future__ import annotations

import functools

JSON = "application/json"
MSGPACK = "application/msgpack"
_PRODUCIBLE = {
    "application/json": JSON,
    "application/msgpack": MSGPACK,
    "application/x-msgpack": MSGPACK,
}


def parse_accept(header: str) -> list[tuple[str, float]]:
    """``Accept`` as (media range, q) pairs, best first; malformed pieces are skipped."""
    ranges: list[tuple[str, float, int]] = []
    for index, piece in enumerate(header.split(",")):
        parts = [p.strip() for p in piece.split(";")]
        media = parts[0].lower()
        if not media or "/" not in media:
            continue
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append((media, q, index))
    ranges.sort(key=lambda r: (-r[1], r[2]))
    return [(m, q) for m, q, _ in ranges]


# Answers for short Accept headers are remembered (clients send the same few on every request);
# a long one, or a flood of distinct ones, costs at most this cache's bound in memory.
_CACHED_HEADER_MAX = 200
_CACHE_SIZE = 512


def choose_api_type(header: str | None) -> str | None:
    """JSON or msgpack for this ``Accept`` header; None when it allows neither (406)."""
    if not header or not header.strip():
        return JSON
    if len(header) <= _CACHED_HEADER_MAX:
        return _cached_api_type(header)
    return _api_type(header)


def _api_type(header: str) -> str | None:
    for media, q in parse_accept(header):
        if q <= 0:
            continue
        if media in _PRODUCIBLE:
            return _PRODUCIBLE[media]
        if media in ("*/*", "application/*"):
            return JSON
    return None


def quality(ranges: list[tuple[str, float]], media_type: str) -> tuple[float, int]:
    """(q, specificity) of the most specific range matching ``media_type``; (0, -1) if none."""
    major = media_type.split("/")[0]
    best = (0.0, -1)
    for media, q in ranges:
        specificity = 2 if media == media_type else 1 if media == f"{major}/*" else 0 if media == "*/*" else -1
        if specificity > best[1]:
            best = (q, specificity)
    return best


def prefers(header: str | None, candidates: tuple[str, ...]) -> str | None:
    """The candidate ``Accept`` ranks highest (q first, then how exactly it was named)."""
    if not header:
        return None
    if len(header) <= _CACHED_HEADER_MAX:
        return _cached_prefers(header, candidates)
    return _prefers(header, candidates)


def _prefers(header: str, candidates: tuple[str, ...]) -> str | None:
    ranges = parse_accept(header)
    scored = [(quality(ranges, c), -i, c) for i, c in enumerate(candidates)]
    (q, _specificity), _, best = max(scored)
    return best if q > 0 else None


_cached_api_type = functools.lru_cache(maxsize=_CACHE_SIZE)(_api_type)
_cached_prefers = functools.lru_cache(maxsize=_CACHE_SIZE)(_prefers)
