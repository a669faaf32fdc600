"""EXIF (TIFF) blocks edited in place, byte for byte: the GPS IFD removed, everything else untouched.

Rewriting EXIF through a parser (Pillow, piexif) re-lays it out and moves maker notes, whose
vendor-specific offsets then point at the wrong bytes. Here the block keeps its size and every
offset: the GPS IFD and the values it points to are zeroed, and its pointer entry (tag 0x8825) is
taken out of IFD0 by shifting the entries after it up (the next-IFD pointer moves with them).
"""

from __future__ import annotations

import struct

GPS_IFD_TAG = 0x8825
ORIENTATION_TAG = 0x0112
# TIFF field type -> bytes per value.
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
EXIF_HEADER = b"Exif\x00\x00"


class BadTiff(ValueError):
    """The block is not a TIFF structure we can walk safely."""


class _Tiff:
    def __init__(self, data: bytearray) -> None:
        if len(data) < 8 or data[:2] not in (b"II", b"MM"):
            raise BadTiff("no TIFF header")
        self.data = data
        self.end = "<" if data[:2] == b"II" else ">"
        if self.u16(2) != 42:
            raise BadTiff("not TIFF")

    def u16(self, at: int) -> int:
        if at < 0 or at + 2 > len(self.data):
            raise BadTiff("offset out of range")
        return struct.unpack_from(self.end + "H", self.data, at)[0]

    def u32(self, at: int) -> int:
        if at < 0 or at + 4 > len(self.data):
            raise BadTiff("offset out of range")
        return struct.unpack_from(self.end + "I", self.data, at)[0]

    def entries(self, ifd: int) -> list[tuple[int, int, int, int, int]]:
        """(position, tag, type, count, value/offset) of each entry of the IFD at ``ifd``."""
        count = self.u16(ifd)
        if ifd + 2 + 12 * count + 4 > len(self.data) or count > 1000:
            raise BadTiff("IFD runs past the block")
        out = []
        for i in range(count):
            at = ifd + 2 + 12 * i
            out.append((at, self.u16(at), self.u16(at + 2), self.u32(at + 4), self.u32(at + 8)))
        return out

    def zero(self, start: int, length: int) -> None:
        if start < 8 or start + length > len(self.data):
            raise BadTiff("value out of range")
        self.data[start:start + length] = bytes(length)


def has_gps(tiff: bytes) -> bool:
    try:
        t = _Tiff(bytearray(tiff))
        return any(tag == GPS_IFD_TAG for _at, tag, *_rest in t.entries(t.u32(4)))
    except BadTiff:
        return False


def remove_gps(tiff: bytes) -> bytes | None:
    """The same block without its GPS IFD (same length, same offsets); None if it had none.

    Raises BadTiff for a block that cannot be walked (the caller then drops the whole block).
    """
    t = _Tiff(bytearray(tiff))
    ifd0 = t.u32(4)
    entries = t.entries(ifd0)
    found = [e for e in entries if e[1] == GPS_IFD_TAG]
    if not found:
        return None
    position, _tag, _type, _count, gps = found[0]
    gps_entries = t.entries(gps)
    for _at, _gtag, kind, count, value in gps_entries:
        size = _TYPE_SIZES.get(kind, 1) * count
        if size > 4:
            t.zero(value, size)
    t.zero(gps, 2 + 12 * len(gps_entries) + 4)
    # Take the pointer entry out of IFD0: the entries after it and the next-IFD pointer move up 12 bytes.
    n = len(entries)
    table_end = ifd0 + 2 + 12 * n + 4
    t.data[position:table_end - 12] = t.data[position + 12:table_end]
    t.data[table_end - 12:table_end] = bytes(12)
    struct.pack_into(t.end + "H", t.data, ifd0, n - 1)
    return bytes(t.data)


def orientation(tiff: bytes) -> int:
    """The Orientation of IFD0 (1 when absent or unreadable)."""
    try:
        t = _Tiff(bytearray(tiff))
        for at, tag, kind, count, _value in t.entries(t.u32(4)):
            if tag == ORIENTATION_TAG and kind == 3 and count == 1:
                # A SHORT sits in the first two bytes of the value field.
                raw = t.u16(at + 8)
                return raw if 1 <= raw <= 8 else 1
    except BadTiff:
        pass
    return 1


def orientation_only(value: int) -> bytes:
    """A minimal big-endian TIFF block holding only the Orientation (what ``strip all`` keeps)."""
    return b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">HHHIHH", 1, ORIENTATION_TAG, 3, 1, value, 0) + b"\x00" * 4
