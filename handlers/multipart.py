"""The multipart body of ``POST /``, parsed with ``multipart``'s sans-IO ``PushMultipartParser``:
the ``file`` part streams into the core's ``Upload``, small form fields stay in memory (capped),
any other part is dropped.

Why this parser (README, "Dependencies"): streaming-form-data, used before, ran every part's
headers and the boundary through the standard library's ``email`` header machinery, a quarter of
the event loop's CPU per 100 KB upload; it also buffered a part's header block whole (quadratic
re-copies, which needed a cap of our own). ``multipart`` parses headers itself, line by line, with
limits on the line length and the number of lines, and keeps nothing of a preamble but a possible
partial boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser, parse_options_header

from tornado_paste.core.ingest import IngestError, Upload

MAX_FIELD_BYTES = 256
# One part-header line (a long filename fits: names are cut to 200 bytes anyway) and lines per part.
MAX_HEADER_LINE = 4096
MAX_HEADER_LINES = 8
# RFC 2046 section 5.1.1: 1 to 70 characters from this set, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


class MalformedMultipart(IngestError):
    """A multipart body we cannot parse. Its code stays ``bad_request``, as the core (and the
    tests of other areas) define it; ``bad_multipart`` names a bad multipart Content-Type."""


class BadMultipartType(ValueError):
    """The Content-Type is multipart/form-data but names no usable boundary."""


def boundary_of(content_type: str) -> str:
    """The boundary of a ``multipart/form-data`` Content-Type, checked against RFC 2046."""
    kind, options = parse_options_header(content_type)
    if kind != "multipart/form-data":
        raise BadMultipartType("not multipart/form-data")
    boundary = options.get("boundary", "")
    if not _BOUNDARY.fullmatch(boundary):
        raise BadMultipartType("the boundary must be 1 to 70 characters of the RFC 2046 set")
    return boundary


class FormReader:
    """Feeds one multipart body, chunk by chunk, to the upload and the named small fields."""

    def __init__(self, boundary: str, upload: Upload, field_names: Iterable[str]) -> None:
        self.parser = PushMultipartParser(boundary, max_header_size=MAX_HEADER_LINE,
                                          max_header_count=MAX_HEADER_LINES)
        self.upload = upload
        self.values: dict[str, bytearray] = {name: bytearray() for name in field_names}
        self.file_parts = 0
        self.file_complete = False
        self.filename: str | None = None
        # Where the current part's bytes go: the upload, a field's buffer, or nowhere (dropped).
        self._to_file = False
        self._field: bytearray | None = None

    async def feed(self, chunk: bytes) -> None:
        """Parse one chunk; awaits the upload's disk writes (backpressure)."""
        try:
            for event in self.parser.parse(chunk):
                if event.__class__ is bytes or event.__class__ is bytearray:
                    await self._data(event)  # type: ignore[arg-type]
                elif event is None:
                    if self._to_file:
                        self.file_complete = True
                    self._to_file, self._field = False, None
                else:
                    self._start(event)  # type: ignore[arg-type]
        except MultipartError as exc:
            raise _malformed(exc) from None

    def close(self) -> None:
        """The body ended: refuse a multipart stream without its closing boundary."""
        try:
            self.parser.close()
        except MultipartError:
            raise MalformedMultipart("the multipart body ended early") from None

    def field(self, name: str) -> str | None:
        value = self.values[name]
        return value.decode("utf-8", errors="replace") if value else None

    def _start(self, segment: MultipartSegment) -> None:
        name = segment.name
        if name == "file":
            self.file_parts += 1
            if self.file_parts > 1:
                raise MalformedMultipart("send exactly one 'file' part")
            self.filename = segment.filename
            self._to_file = True
        else:
            self._field = self.values.get(name or "")

    async def _data(self, data: bytes) -> None:
        if self._to_file:
            pending = self.upload.write(data)
            if pending is not None:
                await pending
        elif self._field is not None:
            if len(self._field) + len(data) > MAX_FIELD_BYTES:
                raise IngestError("form field too long")
            self._field += data


def _malformed(exc: MultipartError) -> MalformedMultipart:
    if isinstance(exc, ParserLimitReached):
        return MalformedMultipart(f"a multipart part header exceeds {MAX_HEADER_LINE} bytes per line "
                                  f"or {MAX_HEADER_LINES} lines")
    if any(isinstance(arg, UnicodeDecodeError) for arg in exc.args):
        return MalformedMultipart("multipart part headers must be UTF-8")
    detail = str(exc.args[0]) if exc.args else type(exc).__name__
    return MalformedMultipart(f"malformed multipart body ({detail[:1].lower() + detail[1:]})")
