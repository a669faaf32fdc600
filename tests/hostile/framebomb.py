"""Animated-image frame bombs, written byte by byte (Pillow would take minutes to encode 200,000 frames)."""

from __future__ import annotations

import struct


def _frame(index: int, x: int = 0, y: int = 0) -> bytes:
    """One 1x1 frame at (x, y): graphic control (10 ms), image descriptor, LZW data of one pixel."""
    pixel = index % 2  # alternate the two palette colours, so no encoder can merge frames
    # LZW, minimum code size 2 (3-bit codes, LSB first): clear (4), the pixel, end of information (5).
    codes = 4 | pixel << 3 | 5 << 6
    gce = b"\x21\xf9\x04\x00" + struct.pack("<H", 1) + b"\x00\x00"
    descriptor = b"\x2c" + struct.pack("<HHHH", x, y, 1, 1) + b"\x00"
    return gce + descriptor + b"\x02\x02" + struct.pack("<H", codes) + b"\x00"


def gif_frame_bomb(frames: int = 200_000, offset: tuple[int, int] = (0, 0)) -> bytes:
    """A GIF of ``frames`` 1x1 frames (23 bytes each: 200,000 frames = 4.6 MB), looping forever.

    The header says 1x1; with ``offset`` every frame sits at (x, y), so the canvas the frames
    need (and Pillow decodes, frame after frame) is (x + 1) x (y + 1) while the header still says 1x1.
    """
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    body = b"".join(_frame(i, *offset) for i in range(2)) * (frames // 2) + (_frame(0, *offset) if frames % 2 else b"")
    return header + loop + body + b"\x3b"
