"""Animations measured before any pixel is decoded: frame count and canvas from the file's structure,
checked against the frame cap and the total-pixel budget (the frame-bomb defence)."""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass

from PIL import Image

from tornado_paste.images.errors import ImageTooLarge, TooManyFrames


@dataclass(frozen=True)
class FrameScan:
    """What an animation's structure says, before any pixel is decoded."""

    frames: int  # counted up to the cap + 1
    width: int  # the canvas its frames need (a GIF frame sticking out grows it, as Pillow does)
    height: int


_GIF_BLOCK_START = re.compile(rb"[!,;]")


def scan_gif(path: str, stop_after: int) -> FrameScan:
    """Count a GIF's image descriptors from its block structure, decoding nothing; stop past ``stop_after``.

    Walks the blocks the way Pillow's reader does (bytes between blocks that start none are skipped),
    so it counts the frames Pillow would decode; the decoding loop checks the caps again anyway.
    Cost: one step per data sub-block of the frames before the stop (at most the file's size / 2).
    """
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size < 13:
            return FrameScan(0, 0, 0)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            size = len(mm)
            width, height = mm[6] | mm[7] << 8, mm[8] | mm[9] << 8
            flags = mm[10]
            pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            frames = 0
            while pos < size:
                tag = mm[pos]
                if tag == 0x3B:  # trailer
                    break
                if tag == 0x21:  # extension: its label, then data sub-blocks
                    pos = _skip_sub_blocks(mm, pos + 2, size)
                elif tag == 0x2C:  # image descriptor: x, y, w, h, flags; [local palette]; LZW size; data
                    frames += 1
                    if frames > stop_after or pos + 10 > size:
                        break
                    x, y = mm[pos + 1] | mm[pos + 2] << 8, mm[pos + 3] | mm[pos + 4] << 8
                    w, h = mm[pos + 5] | mm[pos + 6] << 8, mm[pos + 7] | mm[pos + 8] << 8
                    width, height = max(width, x + w), max(height, y + h)
                    flags = mm[pos + 9]
                    pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
                    pos = _skip_sub_blocks(mm, pos + 1, size)
                else:
                    found = _GIF_BLOCK_START.search(mm, pos + 1)
                    if found is None:
                        break
                    pos = found.start()
    return FrameScan(frames, width, height)


def _skip_sub_blocks(mm: mmap.mmap, pos: int, size: int) -> int:
    while pos < size:
        length = mm[pos]
        pos += 1 + length
        if length == 0:
            break
    return pos


def scan_animation(im: Image.Image, path: str, max_frames: int) -> FrameScan:
    """Frame count (up to ``max_frames`` + 1) and canvas of an open GIF/WebP animation, decoding nothing."""
    if im.format == "GIF":
        return scan_gif(path, max_frames)
    # libwebp's demuxer parsed every frame header (in C) when Pillow opened the file; frames
    # cannot stick out of a WebP canvas.
    return FrameScan(int(getattr(im, "n_frames", 1)), im.size[0], im.size[1])


def check_animation(scan: FrameScan, out_pixels: int, max_pixels: int, max_frames: int, budget: int) -> None:
    if scan.frames > max_frames:
        raise TooManyFrames(f"the animation has more than {max_frames} frames; at most {max_frames} can be resized")
    canvas = scan.width * scan.height
    if canvas > max_pixels:
        raise ImageTooLarge(f"the animation's frames cover {scan.width}x{scan.height}; "
                            f"at most {max_pixels} pixels can be resized")
    if scan.frames * max(canvas, out_pixels) > budget:
        raise ImageTooLarge(f"the animation has too many frames to resize (limit {budget} pixels in all)")
