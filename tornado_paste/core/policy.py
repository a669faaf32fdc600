"""Which sniffed MIME types may be stored."""

from __future__ import annotations

from fnmatch import fnmatchcase


class TypePolicy:
    """Allow/deny lists of fnmatch patterns (``image/*``); deny wins; empty allow = all."""

    def __init__(self, allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()) -> None:
        self.allow = tuple(p.lower() for p in allow)
        self.deny = tuple(p.lower() for p in deny)

    def permits(self, mimetype: str) -> bool:
        mimetype = mimetype.lower()
        if any(fnmatchcase(mimetype, p) for p in self.deny):
            return False
        return not self.allow or any(fnmatchcase(mimetype, p) for p in self.allow)
