"""Photo metadata removed at upload, losslessly: no pixel is decoded or re-encoded.

``strip_metadata`` = ``gps`` (the default) removes location: the EXIF GPS IFD (edited in place, the
rest of EXIF, maker notes included, byte for byte as it was) and XMP packets that carry GPS
coordinates. ``all`` removes EXIF (but the orientation, kept as a minimal EXIF block so the photo
still shows upright), XMP, IPTC/Photoshop blocks, comments and other application segments. The ICC
colour profile always stays (it is colour, not personal), and so do JFIF and Adobe segments (needed
to decode). ``off`` keeps the file as uploaded.

JPEG: segments before the first scan are filtered, the entropy-coded data after it is copied as is.
PNG: ancillary chunks are filtered (eXIf edited like EXIF, its CRC recomputed). WebP: the EXIF/XMP
chunks of an extended (VP8X) file, with its flags and the RIFF size updated.

Runs on the staged upload after sniffing and before the hash is final (``Ingestor.transforms``): the
stored bytes and their sha256 are the stripped ones, so dedupe works on them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import struct
import time
import zlib
from collections.abc import Callable
from typing import BinaryIO

from tornado_paste.core.fsutil import unlink_quietly
from tornado_paste.core.ingest import Transformed
from tornado_paste.metrics.client import Metrics
from tornado_paste.previews import exif
from tornado_paste.storage.blobs.local import BlobStore

log = logging.getLogger(__name__)

MODES = ("gps", "all", "off")
XMP_HEADERS = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
# What marks an XMP packet as carrying a location.
_XMP_LOCATION = (b"GPSLatitude", b"GPSLongitude", b"GPSAltitude", b"GPSPosition")
# Segments kept by ``all``: JFIF/JFXX (APP0), ICC and MPF (APP2), Adobe (APP14).
_JPEG_KEEP = {0xE0, 0xE2, 0xEE}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = {b"tEXt", b"zTXt", b"iTXt", b"tIME"}


class Unstrippable(ValueError):
    """The container cannot be walked safely; the file is stored as it came."""


def _xmp_has_location(packet: bytes) -> bool:
    return any(word in packet for word in _XMP_LOCATION)


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise Unstrippable("the file ends inside a header")
    return data


# -- JPEG ---------------------------------------------------------------------------------------
def strip_jpeg(src: BinaryIO, dst: BinaryIO, mode: str) -> list[str]:
    if _read(src, 2) != b"\xff\xd8":
        raise Unstrippable("no JPEG start marker")
    kept: list[bytes] = [b"\xff\xd8"]
    removed: list[str] = []
    orientation = 1
    while True:
        byte = _read(src, 1)
        if byte != b"\xff":
            raise Unstrippable("a segment does not start with a marker")
        marker = _read(src, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read(src, 1)[0]
        if marker in _STANDALONE:
            kept.append(bytes((0xFF, marker)))
            continue
        if marker == 0xD9:  # EOI before any scan
            kept.append(b"\xff\xd9")
            break
        length = struct.unpack(">H", _read(src, 2))[0]
        if length < 2:
            raise Unstrippable("a segment length is too small")
        payload = _read(src, length - 2)
        segment = bytes((0xFF, marker)) + struct.pack(">H", length) + payload
        if marker == 0xDA:  # start of scan: from here on, the image data, copied as it is
            kept.append(segment)
            break
        keep, what, orientation = _jpeg_segment(marker, payload, mode, orientation)
        if what:
            removed.append(what)
        if keep is not None:
            kept.append(keep)
    if not removed:
        return []
    if mode == "all" and orientation != 1:
        block = exif.EXIF_HEADER + exif.orientation_only(orientation)
        kept.insert(_after_app0(kept), b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block)
    for piece in kept:
        dst.write(piece)
    shutil.copyfileobj(src, dst, 1 << 20)
    return sorted(set(removed))


def _after_app0(kept: list[bytes]) -> int:
    return 2 if len(kept) > 1 and kept[1][:2] == b"\xff\xe0" else 1


def _jpeg_segment(marker: int, payload: bytes, mode: str, orientation: int) -> tuple[bytes | None, str | None, int]:
    """(segment to keep or None, what was removed or None, orientation seen so far)."""
    whole = bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload
    if marker == 0xE1 and payload.startswith(exif.EXIF_HEADER):
        tiff = payload[len(exif.EXIF_HEADER):]
        orientation = exif.orientation(tiff)
        if mode == "all":
            return None, "exif", orientation
        try:
            edited = exif.remove_gps(tiff)
        except exif.BadTiff:
            return None, "exif", orientation  # unreadable EXIF may hide a location: all of it goes
        if edited is None:
            return whole, None, orientation
        return whole[:4] + exif.EXIF_HEADER + edited, "gps", orientation
    if marker == 0xE1 and payload.startswith(XMP_HEADERS):
        if mode == "all" or _xmp_has_location(payload):
            return None, "xmp", orientation
        return whole, None, orientation
    if mode == "gps":
        return whole, None, orientation
    if marker == 0xFE:
        return None, "comment", orientation
    if marker == 0xED:
        return None, "iptc", orientation
    if 0xE0 <= marker <= 0xEF and marker not in _JPEG_KEEP:
        return None, "other", orientation
    return whole, None, orientation


# -- PNG ----------------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def strip_png(src: BinaryIO, dst: BinaryIO, mode: str) -> list[str]:
    if _read(src, 8) != _PNG_SIGNATURE:
        raise Unstrippable("no PNG signature")
    kept: list[bytes] = [_PNG_SIGNATURE]
    removed: list[str] = []
    while True:
        length, kind = struct.unpack(">I4s", _read(src, 8))
        if length > 1 << 26 and kind not in (b"IDAT",):
            raise Unstrippable("an ancillary chunk is implausibly large")
        if kind == b"IDAT":  # image data from here: copy the rest as it is
            kept.append(struct.pack(">I", length) + kind)
            break
        data, crc = _read(src, length), _read(src, 4)
        whole = struct.pack(">I", length) + kind + data + crc
        if kind == b"eXIf":
            if mode == "all":
                removed.append("exif")
                value = exif.orientation(data)
                if value != 1:
                    kept.append(_png_chunk(b"eXIf", exif.orientation_only(value)))
                continue
            try:
                edited = exif.remove_gps(data)
            except exif.BadTiff:
                removed.append("exif")
                continue
            if edited is not None:
                removed.append("gps")
                whole = _png_chunk(b"eXIf", edited)
        elif kind == b"iTXt" and data.startswith(b"XML:com.adobe.xmp\x00"):
            if mode == "all" or _xmp_has_location(data):
                removed.append("xmp")
                continue
        elif kind in _PNG_TEXT and mode == "all":
            removed.append("text")
            continue
        kept.append(whole)
        if kind == b"IEND":
            break
    if not removed:
        return []
    for piece in kept:
        dst.write(piece)
    shutil.copyfileobj(src, dst, 1 << 20)
    return sorted(set(removed))


# -- WebP ---------------------------------------------------------------------------------------
def strip_webp(src: BinaryIO, dst: BinaryIO, mode: str) -> list[str]:
    header = _read(src, 12)
    if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
        raise Unstrippable("not a RIFF WebP file")
    size = struct.unpack("<I", header[4:8])[0]
    if size > 1 << 28:
        raise Unstrippable("WebP metadata is only stripped from files up to 256 MiB")
    body = _read(src, size - 4)
    chunks: list[list[bytes]] = []
    at = 0
    while at + 8 <= len(body):
        kind, length = body[at:at + 4], struct.unpack("<I", body[at + 4:at + 8])[0]
        data = body[at + 8:at + 8 + length]
        if len(data) != length:
            raise Unstrippable("a WebP chunk runs past the file")
        chunks.append([kind, data])
        at += 8 + length + (length & 1)
    removed: list[str] = []
    out: list[list[bytes]] = []
    for kind, data in chunks:
        if kind == b"EXIF":
            prefix = exif.EXIF_HEADER if data.startswith(exif.EXIF_HEADER) else b""
            tiff = data[len(prefix):]
            if mode == "all":
                removed.append("exif")
                value = exif.orientation(tiff)
                if value != 1:
                    out.append([kind, exif.orientation_only(value)])
                continue
            try:
                edited = exif.remove_gps(tiff)
            except exif.BadTiff:
                removed.append("exif")
                continue
            if edited is not None:
                removed.append("gps")
                data = prefix + edited
        elif kind == b"XMP " and (mode == "all" or _xmp_has_location(data)):
            removed.append("xmp")
            continue
        out.append([kind, data])
    if not removed:
        return []
    kinds = {k for k, _ in out}
    for chunk in out:
        if chunk[0] == b"VP8X" and len(chunk[1]) >= 1:
            flags = chunk[1][0] & ~(0x08 | 0x04)
            flags |= (0x08 if b"EXIF" in kinds else 0) | (0x04 if b"XMP " in kinds else 0)
            chunk[1] = bytes((flags,)) + chunk[1][1:]
    payload = b"".join(k + struct.pack("<I", len(d)) + d + (b"\x00" if len(d) & 1 else b"") for k, d in out)
    dst.write(b"RIFF" + struct.pack("<I", len(payload) + 4) + b"WEBP" + payload)
    return sorted(set(removed))


STRIPPERS: dict[str, Callable[[BinaryIO, BinaryIO, str], list[str]]] = {
    "image/jpeg": strip_jpeg, "image/png": strip_png, "image/webp": strip_webp,
}


def strip_file(src_path: str, dst_path: str, mimetype: str, mode: str) -> list[str]:
    """Blocking: write ``src_path`` without its metadata to ``dst_path``; what was removed ([] = nothing,
    and then ``dst_path`` is not written)."""
    stripper = STRIPPERS.get(mimetype)
    if stripper is None or mode == "off":
        return []
    with open(src_path, "rb") as src, open(dst_path, "wb") as dst:
        removed = stripper(src, dst, mode)
        if removed:
            dst.flush()
    if not removed:
        unlink_quietly(dst_path)
    return removed


class MetadataStripper:
    """The ingest transform: a new staged file without the metadata, or None when nothing was removed."""

    def __init__(self, mode: str, blobs: BlobStore, metrics: Metrics) -> None:
        self.mode = mode.strip().lower()
        if self.mode not in MODES:
            raise ValueError(f"strip_metadata must be one of {MODES}")
        self.blobs, self.metrics = blobs, metrics

    async def __call__(self, mimetype: str, path: str) -> Transformed | None:
        if self.mode == "off" or mimetype not in STRIPPERS:
            return None
        out = self.blobs.staging_path(".strip")
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            removed = await loop.run_in_executor(self.blobs.io_pool, strip_file, path, out, mimetype, self.mode)
        except Unstrippable as exc:
            await loop.run_in_executor(self.blobs.io_pool, unlink_quietly, out)
            self.metrics.incr("strip.skipped")
            log.info("metadata not stripped (%s): %s", mimetype, exc)
            return None
        except BaseException:
            await loop.run_in_executor(self.blobs.io_pool, unlink_quietly, out)
            raise
        self.metrics.timing("strip.duration", (time.monotonic() - started) * 1000)
        if not removed:
            return None
        self.metrics.incr("strip.count")
        for what in removed:
            self.metrics.incr(f"strip.removed.{what}")
        return Transformed(out, {"metadata_removed": removed})
