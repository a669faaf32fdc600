"""The file record, its public card and links."""

from __future__ import annotations

import dataclasses
import html
import mimetypes
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Types a browser would execute (scripts, modules, WebAssembly, style sheets) or interpret as a
# document on our origin. Stored files of these types are never served as themselves
# (handlers/files.py served_type): text/plain or application/octet-stream, as attachments.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/vnd.wap.xhtml+xml",
        # Every JavaScript MIME type essence a browser accepts for a script (WHATWG MIME Sniffing).
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "application/ecmascript",
        "application/x-ecmascript",
        "text/x-javascript",
        "text/x-ecmascript",
        "text/jscript",
        "text/livescript",
        "text/javascript1.0",
        "text/javascript1.1",
        "text/javascript1.2",
        "text/javascript1.3",
        "text/javascript1.4",
        "text/javascript1.5",
        "application/wasm",
        "text/css",
        "application/x-shockwave-flash",
        "text/cache-manifest",
        "application/manifest+json",
    }
)

# mimetypes' first guess is sometimes odd (.jpe, .bat); these are what people expect.
_PREFERRED_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/x-python": ".py",
    "text/x-script.python": ".py",
    "application/octet-stream": ".bin",
    "application/x-empty": ".txt",
    "inode/x-empty": ".txt",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
    "application/zip": ".zip",
    "application/gzip": ".gz",
    "application/x-gzip": ".gz",
    "application/pdf": ".pdf",
}

_TEXTUAL_APPLICATION_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-ndjson"}
)


def extension_for(mimetype: str) -> str:
    """A short, safe file extension for a sniffed MIME type (with the dot)."""
    ext = _PREFERRED_EXTENSIONS.get(mimetype) or mimetypes.guess_extension(mimetype) or ""
    if not ext or not ext[1:].isalnum() or len(ext) > 8:
        ext = ".txt" if mimetype.startswith("text/") else ".bin"
    return ext.lower()


def new_filehash(mimetype: str) -> str:
    """The public, unguessable name of a file: 16 random hex digits + extension."""
    return secrets.token_hex(8) + extension_for(mimetype)


def kind_of(mimetype: str) -> str:
    """Coarse type used for previews: image/audio/video/pdf/text/binary."""
    major = mimetype.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return major
    if mimetype == "application/pdf":
        return "pdf"
    if major == "text" or mimetype in _TEXTUAL_APPLICATION_TYPES or mimetype.endswith("+json"):
        return "text"
    return "binary"


def is_active(mimetype: str) -> bool:
    return mimetype in ACTIVE_TYPES or mimetype.endswith("+xml")


def human_size(size: int) -> str:
    """1536 -> '1.5 KiB'; binary units, as people read download sizes."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso8601(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FileRecord:
    """One stored file as the metadata store keeps it.

    ``sha256`` names the blob; several records never share it except through
    derivatives (see the images issue), so dedupe is one unique index.
    """

    filehash: str
    sha256: str
    filename: str
    mimetype: str
    size: int
    uploaded_at: datetime
    delete_token_hash: str
    private: bool = False
    width: int | None = None
    height: int | None = None
    expires_at: datetime | None = None
    # Derivatives (crop-resize results) point to their original.
    parent_id: int | None = None
    variant: dict[str, Any] | None = None
    id: int | None = None

    @property
    def kind(self) -> str:
        return kind_of(self.mimetype)

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FileRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        for key in ("uploaded_at", "expires_at"):
            value = values.get(key)
            if isinstance(value, str):
                values[key] = datetime.fromisoformat(value)
            if isinstance(values.get(key), datetime) and values[key].tzinfo is None:
                # MongoDB hands back naive UTC datetimes.
                values[key] = values[key].replace(tzinfo=UTC)
        values["private"] = bool(values.get("private"))
        return cls(**values)


class Links:
    """Builds every public URL from the configured base URL (never the Host header).

    With a separate content origin (``content_base_url``, like githubusercontent.com) the links to
    the bytes themselves (/i/, /d/, /r/) point there, so user content never shares an origin (its
    storage, its cookies, the pages' CSP) with the pages; everything else stays on ``base_url``.
    """

    def __init__(self, base_url: str, shortener: Any, content_base_url: str = "") -> None:
        self.base = base_url.rstrip("/")
        self.content = (content_base_url or base_url).rstrip("/")
        self.shortener = shortener

    def preview(self, rec: FileRecord) -> str:
        return f"{self.base}/p/{rec.filehash}"

    def raw(self, rec: FileRecord) -> str:
        return f"{self.content}/i/{rec.filehash}"

    def download(self, rec: FileRecord) -> str:
        return f"{self.content}/d/{rec.filehash}"

    def short(self, rec: FileRecord) -> str:
        assert rec.id is not None
        return f"{self.base}/s/{self.shortener.encode(rec.id)}"

    def resize(self, rec: FileRecord) -> str:
        return f"{self.content}/r/{rec.filehash}"

    def api(self, rec: FileRecord) -> str:
        return f"{self.base}/api/v1/files/{rec.filehash}"

    def card(self, rec: FileRecord, delete_token: str | None = None) -> dict[str, Any]:
        """The public JSON/msgpack card of a file."""
        url_p, url_i, url_s = self.preview(rec), self.raw(rec), self.short(rec)
        name = rec.filename
        if rec.kind == "image":
            markdown = f"![{_md_escape(name)}]({url_i})"
            html_snippet = f'<a href="{url_p}"><img src="{url_i}" alt="{html.escape(name)}"></a>'
            bbcode = f"[url={url_p}][img]{url_i}[/img][/url]"
        else:
            markdown = f"[{_md_escape(name)}]({url_s})"
            html_snippet = f'<a href="{url_s}">{html.escape(name)}</a>'
            bbcode = f"[url={url_s}]{_bb_escape(name)}[/url]"
        card: dict[str, Any] = {
            "id": rec.id,
            "filehash": rec.filehash,
            "short_code": self.shortener.encode(rec.id),
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
        }
        if rec.kind == "image":
            card["width"] = rec.width
            card["height"] = rec.height
            card["url_r"] = self.resize(rec)
        if rec.parent_id is not None:
            card["parent_id"] = rec.parent_id
            card["variant"] = rec.variant
        if delete_token is not None:
            card["delete_token"] = delete_token
        return card


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\[]()*_`<>!" else c for c in text).replace("\n", " ")


def _bb_escape(text: str) -> str:
    return text.replace("[", "(").replace("]", ")").replace("\n", " ")
