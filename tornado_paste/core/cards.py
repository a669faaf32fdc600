"""The public face of a file: its links (built from the configured base URL, never the Host
header) and its card — the JSON/msgpack answer with embed snippets (Markdown, HTML, BBCode)
escaped for each syntax. Pure: no I/O, no HTTP.

A card names a file only by its capabilities (filehash, short code): never by the store's
integer id, nor, for a derivative, by anything of its parent (docs/security.md)."""

from __future__ import annotations

import html
from typing import Any

from tornado_paste.core.records import FileRecord, human_size, iso8601


class Links:
    """Builds every public URL from the configured base URL (never the Host header).

    With a separate content origin (``content_base_url``, like githubusercontent.com) the links to
    the bytes themselves (/i/, /d/, /r/) point there, so user content never shares an origin (its
    storage, its cookies, the pages' CSP) with the pages; everything else stays on ``base_url``.
    """

    def __init__(self, base_url: str, content_base_url: str = "") -> None:
        self.base = base_url.rstrip("/")
        self.content = (content_base_url or base_url).rstrip("/")

    def preview(self, rec: FileRecord) -> str:
        return f"{self.base}/p/{rec.filehash}"

    def raw(self, rec: FileRecord) -> str:
        return f"{self.content}/i/{rec.filehash}"

    def download(self, rec: FileRecord) -> str:
        return f"{self.content}/d/{rec.filehash}"

    def short(self, rec: FileRecord) -> str:
        return f"{self.base}/s/{rec.short_code}"

    def resize(self, rec: FileRecord) -> str:
        return f"{self.content}/r/{rec.filehash}"

    def poster(self, rec: FileRecord) -> str:
        """Poster (video), first-page thumbnail (PDF) or cover art (audio): 302 to the derivative's bytes."""
        return f"{self.base}/t/{rec.filehash}"

    def api(self, rec: FileRecord) -> str:
        return f"{self.base}/api/v1/files/{rec.filehash}"

    def manage(self, rec: FileRecord, token: str) -> str:
        """The manage page; the token rides in the fragment, which never reaches a server or its logs."""
        return f"{self.base}/m/{rec.filehash}#{token}"

    def card(self, rec: FileRecord, delete_token: str | None = None) -> dict[str, Any]:
        """The public JSON/msgpack card of a file."""
        url_p, url_i, url_s = self.preview(rec), self.raw(rec), self.short(rec)
        name = rec.filename
        # A guarded image (shares: a password, a download limit) is linked, never inlined: every reader of
        # a page embedding it would fetch the bytes (and use up a download, or meet a 401).
        if rec.kind == "image" and not rec.guarded:
            markdown = f"![{_md_escape(name)}]({url_i})"
            html_snippet = f'<a href="{url_p}"><img src="{url_i}" alt="{html.escape(name)}"></a>'
            bbcode = f"[url={url_p}][img]{url_i}[/img][/url]"
        else:
            markdown = f"[{_md_escape(name)}]({url_s})"
            html_snippet = f'<a href="{url_s}">{html.escape(name)}</a>'
            bbcode = f"[url={url_s}]{_bb_escape(name)}[/url]"
        card: dict[str, Any] = {
            "filehash": rec.filehash,
            "short_code": rec.short_code,
            "filename": name,
            "size": rec.size,
            "size_human": human_size(rec.size),
            "mimetype": rec.mimetype,
            "type": rec.kind,
            "uploaded_at": iso8601(rec.uploaded_at),
            "expires_at": iso8601(rec.expires_at) if rec.expires_at else None,
            "sha256": rec.sha256,
            "private": rec.private,
            "url_p": url_p,
            "url_i": url_i,
            "url_d": self.download(rec),
            "url_s": url_s,
            "url_api": self.api(rec),
            "embed": {"markdown": markdown, "html": html_snippet, "bbcode": bbcode},
            # Shares: a download limit (with the count so far) and whether a password guards the bytes.
            "max_downloads": rec.max_downloads,
            "downloads": rec.downloads,
            "password": rec.password_hash is not None,
        }
        if rec.kind == "image":
            card["width"] = rec.width
            card["height"] = rec.height
            card["url_r"] = self.resize(rec)
        if rec.kind == "video" and rec.width and rec.height:
            card["width"], card["height"] = rec.width, rec.height
        if rec.media:
            # What previews read at upload; ``error`` is the code of a refused probe, kept internal.
            card["media"] = {k: v for k, v in rec.media.items() if k != "error"}
        if rec.parent_id is None and (rec.kind in ("video", "pdf") or (rec.media or {}).get("cover")):
            card["url_t"] = self.poster(rec)
        if rec.parent_id is not None:
            # A derivative says what it is (its size and format), never whose copy it is.
            card["variant"] = rec.variant
        if delete_token is not None:
            # One token, every power: delete (X-Delete-Token) and manage (X-Manage-Token, /m/ page).
            card["delete_token"] = delete_token
            card["manage_token"] = delete_token
            card["url_manage"] = self.manage(rec, delete_token)
        return card


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\[]()*_`<>!" else c for c in text).replace("\n", " ")


def _bb_escape(text: str) -> str:
    return text.replace("[", "(").replace("]", ")").replace("\n", " ")
