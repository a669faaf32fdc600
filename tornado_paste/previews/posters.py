"""Posters and thumbnails as image files: a representative video frame, a PDF's first page, an audio
file's cover art. Blocking; for the bounded executor.

Each tool writes a PNG to a staging path within its limits; Pillow then checks it (size before
decoding), bounds it to ``max_side`` and writes the JPEG that becomes the derivative.

The video frame: from 10% into the video (long videos open on titles or black), near-black frames
are skipped (``signalstats`` + ``metadata=select``, average luma over 24/255), and ffmpeg's
``thumbnail`` filter picks the most representative of the next frames; frames are scaled down before
they are buffered, and at most ``SCAN_SECONDS`` of the video are read. A video that is dark
throughout gets the most representative frame of all.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from tornado_paste.core.fsutil import unlink_quietly
from tornado_paste.previews.errors import CorruptMedia, MediaTooLarge, NoCoverArt
from tornado_paste.previews.media import ffmpeg_input
from tornado_paste.previews.sandbox import ToolLimits, run_tool

POSTER_QUALITY = 85
# Frames the thumbnail filter compares, seconds of video read at most, luma a "dark" frame stays under.
THUMBNAIL_FRAMES = 50
SCAN_SECONDS = 30
DARK_LUMA = 24
# Seek 10% in only when that skips at least this much (a short clip's first second is its content).
MIN_SEEK = 1.0


@dataclass(frozen=True)
class Poster:
    width: int
    height: int


def _scale(max_side: int) -> str:
    # Down only: a small video keeps its size.
    return f"scale='min({max_side},iw)':'min({max_side},ih)':force_original_aspect_ratio=decrease"


def video_frame(src: str, mimetype: str, png: str, duration: float | None, max_side: int,
                limits: ToolLimits) -> None:
    """Write a representative frame of the video to ``png``."""
    seek = duration * 0.1 if duration and duration * 0.1 >= MIN_SEEK else 0.0
    common = ["ffmpeg", "-v", "error", "-nostdin", "-threads", "1"]
    pick = f"thumbnail={THUMBNAIL_FRAMES}"
    bright = f"signalstats,metadata=select:key=lavfi.signalstats.YAVG:value={DARK_LUMA}:function=greater"
    attempts = [(seek, f"{_scale(max_side)},{bright},{pick}"), (0.0, f"{_scale(max_side)},{bright},{pick}"),
                (0.0, f"{_scale(max_side)},{pick}")]
    for start, chain in attempts if seek else attempts[1:]:
        unlink_quietly(png)
        run_tool([*common, "-ss", f"{start:.3f}", "-t", str(SCAN_SECONDS), *ffmpeg_input(src, mimetype),
                  "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", chain, "-frames:v", "1", "-f", "image2",
                  "-c:v", "png", "-y", png], limits, "the video")
        if os.path.exists(png) and os.path.getsize(png) > 0:
            return
    raise CorruptMedia("the video has no frame that can be decoded")


def audio_cover(src: str, mimetype: str, png: str, max_side: int, limits: ToolLimits) -> None:
    """Write the audio file's embedded cover art to ``png``; NoCoverArt when it has none."""
    run_tool(["ffmpeg", "-v", "error", "-nostdin", "-threads", "1", *ffmpeg_input(src, mimetype),
              "-map", "0:v:0?", "-an", "-vf", _scale(max_side), "-frames:v", "1", "-f", "image2", "-c:v", "png",
              "-y", png], limits, "the audio file")
    if not (os.path.exists(png) and os.path.getsize(png) > 0):
        raise NoCoverArt("this audio file has no cover art")


def pdf_page(src: str, png: str, max_side: int, limits: ToolLimits) -> None:
    """Write the PDF's first page, ``max_side`` pixels on its longer side, to ``png``."""
    prefix = png.removesuffix(".png")
    run_tool(["pdftoppm", "-f", "1", "-l", "1", "-singlefile", "-scale-to", str(max_side), "-png", src, prefix],
             limits, "the PDF")
    if not (os.path.exists(png) and os.path.getsize(png) > 0):
        raise CorruptMedia("the PDF's first page could not be drawn")


def to_jpeg(png: str, dst: str, max_side: int, max_pixels: int) -> Poster:
    """The tool's PNG as the derivative JPEG: checked before decoding, at most ``max_side`` a side."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(png, formats=["PNG"]) as im:
                if im.width * im.height > max_pixels:
                    raise MediaTooLarge(f"the preview would be {im.width}x{im.height} pixels")
                im.draft("RGB", (max_side, max_side))
                frame = im.convert("RGBA") if im.mode in ("P", "PA", "LA") else im
                if frame.mode == "RGBA":  # no alpha in JPEG: on white, as the image derivatives are
                    flat = Image.new("RGB", frame.size, "white")
                    flat.paste(frame, mask=frame.getchannel("A"))
                    frame = flat
                elif frame.mode not in ("RGB", "L"):
                    frame = frame.convert("RGB")
                if max(frame.size) > max_side:
                    frame.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                frame.save(dst, "JPEG", quality=POSTER_QUALITY, optimize=True, progressive=True)
                return Poster(frame.width, frame.height)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptMedia(f"the preview frame could not be read: {exc}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaTooLarge(f"the preview frame has too many pixels ({exc})") from None
    finally:
        unlink_quietly(png)
