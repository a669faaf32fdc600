"""What the storage layer keeps: file records, tus upload state, event-log entries; and the
pure helpers about file types and sizes they need. No I/O, no imports from the package."""

from __future__ import annotations

import copy
import dataclasses
import mimetypes
import secrets
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import msgpack

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
    """The unguessable name of a file (a capability): 16 random hex digits (64 bits) + extension."""
    return secrets.token_hex(8) + extension_for(mimetype)


# Short codes (``/s/<code>``) are random capabilities too, stored in the record; nothing derives
# them from anything. Private files get more than 64 bits; public ones, which are listed anyway,
# get shorter codes (about 47.6 bits), which are not sequential either.
SHORT_CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PUBLIC_CODE_LENGTH = 8
PRIVATE_CODE_LENGTH = 11  # 62**11 > 2**65
_CODE_LENGTHS = frozenset({PUBLIC_CODE_LENGTH, PRIVATE_CODE_LENGTH})


def new_short_code(private: bool) -> str:
    """A fresh random base62 short code (``secrets``): 11 characters for a private file, 8 for a public one."""
    length = PRIVATE_CODE_LENGTH if private else PUBLIC_CODE_LENGTH
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(length))


def is_short_code(text: str) -> bool:
    """Whether ``text`` has the shape of a short code we issue (anything else is unknown without a lookup)."""
    return len(text) in _CODE_LENGTHS and text.isascii() and text.isalnum()


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


def is_expired(record: FileRecord, now: datetime | None = None) -> bool:
    return record.expires_at is not None and record.expires_at <= (now or datetime.now(UTC))


def iso8601(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FileRecord:
    """One stored file as the metadata store keeps it.

    ``sha256`` names the blob, which several records may share: dedupe is a storage matter, not
    an identity one. Records meet only as "the public original of these bytes" (``public_original``):
    at most one per sha256 (a unique index in every backend), which a public upload of the same
    bytes answers with. Every other upload gets a record of its own (see ``core/ingest.py``).

    ``id`` is the store's internal integer key (derivative links, deletes, expiry updates); it is
    never shown to clients. ``filehash`` and ``short_code`` are the public, unguessable names.
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
    # Derivatives (crop-resize results) point to their original (internal: never in a card).
    parent_id: int | None = None
    variant: dict[str, Any] | None = None
    # Shares (tornado_paste/shares): a download limit with its exact count, an argon2 password hash,
    # and the CRC-32 of the bytes (computed once, for zip archives).
    max_downloads: int | None = None
    downloads: int = 0
    password_hash: str | None = None
    crc32: int | None = None
    # What the previews feature read at upload (duration, codecs, page count, metadata removed...).
    media: dict[str, Any] | None = None
    id: int | None = None
    # The ``/s/`` code; drawn at random when not given (records read back carry theirs).
    short_code: str = ""

    def __post_init__(self) -> None:
        if not self.short_code:
            self.short_code = new_short_code(self.private)

    @property
    def kind(self) -> str:
        return kind_of(self.mimetype)

    @property
    def exhausted(self) -> bool:
        """Its download limit is reached: it is gone, whatever its expiry still says."""
        return self.max_downloads is not None and self.downloads >= self.max_downloads

    @property
    def guarded(self) -> bool:
        """Its bytes are not for everyone with the link: a password or a download count stands in between."""
        return self.password_hash is not None or self.max_downloads is not None

    @property
    def public_original(self) -> bool:
        """Public and not a derivative: the one record a public upload of the same bytes may share."""
        return not self.private and self.parent_id is None

    def to_row(self) -> dict[str, Any]:
        # Not dataclasses.asdict, whose recursive copy of every field cost more than the SQL insert.
        row = {name: getattr(self, name) for name in _FILE_FIELDS}
        row["variant"], row["media"] = copy.deepcopy(self.variant), copy.deepcopy(self.media)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FileRecord:
        values = {k: v for k, v in row.items() if k in _FILE_FIELD_SET}
        for key in ("uploaded_at", "expires_at"):
            value = values.get(key)
            if isinstance(value, str):
                values[key] = datetime.fromisoformat(value)
            if isinstance(values.get(key), datetime) and values[key].tzinfo is None:
                # MongoDB hands back naive UTC datetimes.
                values[key] = values[key].replace(tzinfo=UTC)
        values["private"] = bool(values.get("private"))
        values["downloads"] = int(values.get("downloads") or 0)
        return cls(**values)


_FILE_FIELDS = tuple(f.name for f in fields(FileRecord))
_FILE_FIELD_SET = frozenset(_FILE_FIELDS)


def _from_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


@dataclass
class CollectionRecord:
    """An ordered set of files under one link (``/c/<code>``), optionally an upload request too.

    ``code`` is the public capability (like a filehash); ``manage_token_hash`` and ``request_hash``
    (the ``/u/<code>`` upload capability) are SHA-256 hashes of secrets the store never sees.
    ``max_files``/``max_bytes`` bound what ``used_files``/``used_bytes`` may reach, reserved
    atomically in the store (uploads in flight included); the other request limits are in ``request``.
    """

    code: str
    title: str
    created_at: datetime
    manage_token_hash: str
    private: bool = True
    expires_at: datetime | None = None
    password_hash: str | None = None
    max_downloads: int | None = None
    downloads: int = 0
    request_hash: str | None = None
    # max_file_size, allowed_types (list), uploader_view ("own"|"all"), closes_at (ISO 8601 or None).
    request: dict[str, Any] | None = None
    max_files: int | None = None
    max_bytes: int | None = None
    used_files: int = 0
    used_bytes: int = 0

    @property
    def exhausted(self) -> bool:
        return self.max_downloads is not None and self.downloads >= self.max_downloads

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CollectionRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        for key in ("created_at", "expires_at"):
            values[key] = _from_time(values.get(key))
        values["private"] = bool(values.get("private"))
        for key in ("downloads", "used_files", "used_bytes"):
            values[key] = int(values.get(key) or 0)
        return cls(**values)


@dataclass
class Member:
    """One file in a collection. ``by_owner``: added with the file's own token (or uploaded into the
    collection), so the collection may show it even while the file is private. ``owned``: uploaded into
    the collection, so it goes when the collection goes. ``position`` orders the collection."""

    collection: str
    filehash: str
    position: int
    added_at: datetime
    by_owner: bool = False
    owned: bool = False

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Member:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        values["added_at"] = _from_time(values.get("added_at"))
        values["by_owner"] = bool(values.get("by_owner"))
        values["owned"] = bool(values.get("owned"))
        return cls(**values)


@dataclass
class TusState:
    """One tus upload. Times are Unix seconds (floats): comparable across processes on a host."""

    id: str
    offset: int = 0
    # None while the client deferred the length (Upload-Defer-Length: 1).
    length: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    expires_at: float = 0.0
    # None, "partial" or "final"; a final upload lists its partial uploads' ids.
    concat: str | None = None
    parts: list[str] = field(default_factory=list)
    lock_owner: str | None = None
    lock_until: float = 0.0
    # Set once the bytes went through the ingest path: the public filehash of the result.
    filehash: str | None = None
    # True once all bytes are in (a partial upload is complete without being ingested).
    done: bool = False
    # Where a remote blob store keeps the bytes so far (S3: multipart upload id, parts, tail object);
    # empty for local files. Changed only together with ``offset``, under the PATCH lock.
    blob: dict[str, Any] = field(default_factory=dict)
    # The address that created it, for the per-client caps on open uploads. Internal: never answered.
    client: str | None = None

    @property
    def deferred(self) -> bool:
        return self.length is None

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TusState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})


@dataclass(frozen=True)
class TusUsage:
    """Open tus uploads (not ingested, not expired): how many, and their declared bytes (the bytes received
    so far for a deferred length)."""

    count: int = 0
    declared: int = 0


@dataclass(frozen=True)
class DerivativeEntry:
    """One entry of the derivative index: (parent, parameters key) -> derivative file id, as a cache entry.

    ``size`` is the derivative's bytes and ``used_at`` (Unix seconds) when it was last answered, for the
    least-recently-used eviction. A ``pinned`` entry (a resize made at upload, whose uploader holds its
    delete token) is never evicted and counts in no cache total.
    """

    parent_id: int
    key: str
    file_id: int
    size: int = 0
    used_at: float = 0.0
    pinned: bool = False


@dataclass(frozen=True)
class LogEntry:
    cursor: int
    type: str
    ts: float  # seconds since the epoch (UTC)
    filehash: str
    parent_filehash: str | None
    private: bool
    payload: bytes  # msgpack of the event dict, without its cursor

    def body(self) -> dict[str, Any]:
        return msgpack.unpackb(self.payload, raw=False)
