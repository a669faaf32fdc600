"""``format=auto``: the derivative's format picked from the client's ``Accept`` header.

AVIF when the client names ``image/avif``, else WebP when it names ``image/webp``, else the source's
own format. Only explicit types count: ``image/*`` and ``*/*`` say nothing about AVIF support.
An animated GIF goes to WebP (which keeps the animation) rather than AVIF (which would keep only
its first frame here). The answer varies with Accept (``Vary: Accept``); each format is its own
recorded, cached derivative.
"""

from __future__ import annotations

import dataclasses

from tornado_paste.images.render import ResizeRequest

AUTO = "auto"
# Preference order among the formats a client may name.
PREFERRED = (("image/avif", "avif"), ("image/webp", "webp"))


def accepted(accept: str | None) -> dict[str, float]:
    """Media type -> q of an Accept header (types with q=0 left out)."""
    out: dict[str, float] = {}
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            out[media] = max(q, out.get(media, 0.0))
    return out


def choose(accept: str | None, source_mimetype: str) -> str | None:
    """The output format for ``format=auto`` (None: the source's own)."""
    types = accepted(accept)
    for media, name in PREFERRED:
        if media in types and not (name == "avif" and source_mimetype == "image/gif"):
            return name
    return None


def negotiate(request: ResizeRequest, accept: str | None, source_mimetype: str) -> ResizeRequest:
    """``request`` with ``format=auto`` resolved against ``accept`` (others unchanged)."""
    if request.format != AUTO:
        return request
    return dataclasses.replace(request, format=choose(accept, source_mimetype))
