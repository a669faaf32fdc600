"""Pure image functions: open with limits, fill/fit, encode to a path. No I/O besides the two paths.

Everything here is blocking CPU work meant for the bounded executor, never the
event loop. The steps, in the order that keeps the work small:

1. ``Image.open`` reads only the header; width x height is checked against the
   source-pixel limit *before* anything is decoded (Pillow's own
   DecompressionBombWarning/Error are refusals too).
2. The output size is planned from the header size and the EXIF orientation (``request.plan_size``:
   never larger than the source unless the request says ``upscale``, within the output-area limit).
3. JPEG: ``draft()`` lets libjpeg decode at 1/2, 1/4 or 1/8 scale (DCT scaling),
   then ``resize(..., reducing_gap=...)`` does a cheap integer ``reduce()``
   before the final Lanczos resample of only the needed box (centre crop for
   ``fill``). The crop is centred, so it commutes with the EXIF rotation: we
   resize in the stored orientation and rotate the small result.
4. Modes are normalised so the output looks right (palette, 1-bit, 16-bit,
   CMYK), alpha is flattened on white for JPEG.
5. The result is written to a file path (Pillow's encoder releases the GIL
   when it writes to a real file), with no EXIF/GPS/XMP/comments.

Animated GIF/WebP: when the output format is GIF or WebP the animation is
kept (every frame resized, per-frame durations and the loop count kept).
Before any frame is decoded, the frames are counted from the file's structure
(GIF blocks, stopping at the cap + 1; WebP: libwebp's demuxer counted them at
open) and refused over ``max_frames`` (``TooManyFrames``); frames x
max(canvas, output) pixels must stay within ``max_animation_pixels``, else
``ImageTooLarge``. Both are enforced again frame by frame while decoding. A
200,000-frame GIF of 1x1 px (4.6 MB) used to cost 83 s of CPU and take the
server from 62 to 726 MB of RSS; it is now refused after reading 1,001 frame
headers. Converted to JPEG or PNG, an animation becomes its first frame.
"""

from __future__ import annotations

import errno
import math
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageSequence, JpegImagePlugin, UnidentifiedImageError

from tornado_paste.images.animation import FrameScan, check_animation, scan_animation, scan_gif
from tornado_paste.images.errors import (
    BadResize,
    CorruptImage,
    ImageError,
    ImageTooLarge,
    NotAnImage,
    TooManyFrames,
    UnsupportedImage,
)
from tornado_paste.images.request import (
    FORMAT_ALIASES,
    MODES,
    OutputTooLarge,
    ResizeRequest,
    effective_request,
    parse_request,
    plan_size,
)
from tornado_paste.storage.blobs.local import StorageFull

# The image vocabulary, importable from here as before the split.
__all__ = ["FORMAT_ALIASES", "MODES", "BadResize", "CorruptImage", "FrameScan", "ImageError", "ImageTooLarge",
           "NotAnImage", "OutputTooLarge", "ResizeRequest", "TooManyFrames", "UnsupportedImage", "effective_request",
           "parse_request", "plan_size", "scan_animation", "scan_gif"]

# Pillow's own bomb guard warns between MAX_IMAGE_PIXELS and twice that; we refuse instead.
# (Our explicit header check below is the real limit; this makes the warning fatal too.)
warnings.simplefilter("error", Image.DecompressionBombWarning)

# Sniffed MIME type -> Pillow format name we are willing to decode.
SOURCE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
# Output name (as in ?format=) -> (Pillow format, MIME type).
OUTPUT_FORMATS = {"jpeg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp"),
                  "gif": ("GIF", "image/gif"), "avif": ("AVIF", "image/avif")}

JPEG_QUALITY, WEBP_QUALITY, AVIF_QUALITY = 85, 82, 60  # defaults; settings.resize_quality_* per format
# reduce() before the final resample while the box is at least this many times the output;
# 3.0 is visually indistinguishable from a full Lanczos resample (Pillow's docs).
REDUCING_GAP = 3.0
# Let libjpeg's DCT scaling go down to twice the size we need, like Image.thumbnail does.
DRAFT_GAP = 2.0
# Frames an animation may have (settings.resize_max_frames); the default for direct callers.
DEFAULT_MAX_FRAMES = 1000

# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112
# What a broken file makes Pillow raise while decoding.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, zlib.error)


@dataclass(frozen=True)
class Rendered:
    width: int
    height: int
    frames: int


def output_format_for(request: ResizeRequest, source_mimetype: str) -> str:
    """The output format name: the requested one, else the source's own. Raises for non-images."""
    if source_mimetype not in SOURCE_FORMATS:
        if source_mimetype.startswith("image/"):
            raise UnsupportedImage(f"cannot resize {source_mimetype}; JPEG, PNG, GIF and WebP can be resized")
        raise NotAnImage(f"this file is {source_mimetype}, not an image")
    if request.format and request.format != "auto":
        return request.format
    return SOURCE_FORMATS[source_mimetype].lower()


def open_image(path: str, max_pixels: int) -> Image.Image:
    """Open (header only) and refuse sources over ``max_pixels`` before any pixel is decoded."""
    try:
        im = Image.open(path, formats=list(SOURCE_FORMATS.values()))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"the image has too many pixels ({exc})") from None
    except UnidentifiedImageError:
        raise CorruptImage("the file is not a readable JPEG, PNG, GIF or WebP image") from None
    except FileNotFoundError:
        raise  # a missing blob is our fault, not the image's
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"the image is damaged: {exc}") from None
    width, height = im.size
    if width < 1 or height < 1:
        im.close()
        raise CorruptImage("the image has no pixels")
    if width * height > max_pixels:
        im.close()
        raise ImageTooLarge(f"the image is {width}x{height}; at most {max_pixels} pixels can be resized")
    return im


def orientation_of(im: Image.Image) -> int:
    if im.format == "PNG" and "exif" not in im.info:
        # Pillow would decode the whole image looking for an eXIf chunk after the pixels.
        return 1
    try:
        value = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # broken EXIF must not fail the image; show it as stored
        return 1
    return value if value in _ORIENT else 1


def read_size(path: str) -> tuple[int, int] | None:
    """Upright width x height from the header only (for upload metadata); None if unreadable."""
    try:
        with Image.open(path, formats=list(SOURCE_FORMATS.values())) as im:
            width, height = im.size
            if orientation_of(im) in _SWAPS_SIDES:
                width, height = height, width
            return width, height
    except Exception:
        return None


def _normalise(im: Image.Image) -> Image.Image:
    """A mode Lanczos can resample and that keeps the image's look."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return im
    if mode in ("P", "PA"):
        transparent = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if transparent else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale: scale 0..65535 down to 0..255 (a plain convert would clip to white).
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if mode == "F":
        return im.point(lambda v: v * (1 / 256)).convert("L")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return im.convert("RGB")
    return im.convert("RGBA")


def _for_output(im: Image.Image, fmt: str) -> Image.Image:
    """Convert the resized image to a mode the output format stores well."""
    if fmt == "JPEG":
        if im.mode in ("RGBA", "LA"):
            # No alpha in JPEG: flatten on white (black, Pillow's default, looks broken).
            background = Image.new("RGB" if im.mode == "RGBA" else "L", im.size, "white")
            background.paste(im, mask=im.getchannel("A"))
            return background
        return im if im.mode in ("RGB", "L") else im.convert("RGB")
    if fmt == "WEBP" and im.mode in ("L", "LA"):
        return im.convert("RGBA" if im.mode == "LA" else "RGB")
    return im


def _resize(im: Image.Image, raw_target: tuple[int, int], mode: str) -> Image.Image:
    """Resample ``im`` (stored orientation) to ``raw_target``; ``fill`` crops the centre."""
    cur_w, cur_h = im.size
    tw, th = raw_target
    if mode == "fill":
        scale = max(tw / cur_w, th / cur_h)
        # tw / (tw / cur_w) can come out a hair above cur_w in floating point: Pillow then
        # refused the box ("box offset can't be negative") for ~5% of valid fill requests.
        box_w, box_h = min(cur_w, tw / scale), min(cur_h, th / scale)
    else:
        box_w, box_h = cur_w, cur_h
    box = ((cur_w - box_w) / 2, (cur_h - box_h) / 2, (cur_w + box_w) / 2, (cur_h + box_h) / 2)
    return im.resize((tw, th), Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP)


def _draft_size(src: tuple[int, int], raw_target: tuple[int, int], mode: str) -> tuple[int, int]:
    """The smallest full-image size the JPEG decoder may produce and still leave room for quality."""
    sw, sh = src
    tw, th = raw_target
    scale = max(tw / sw, th / sh) if mode == "fill" else min(tw / sw, th / sh)
    return (min(sw, math.ceil(sw * scale * DRAFT_GAP)), min(sh, math.ceil(sh * scale * DRAFT_GAP)))


def _one_frame(frame: Image.Image, raw_target: tuple[int, int], request: ResizeRequest, orientation: int,
               fmt: str) -> Image.Image:
    out = _resize(_normalise(frame), raw_target, request.mode)
    if orientation in _ORIENT:
        out = out.transpose(_ORIENT[orientation])
    out = _for_output(out, fmt)
    out.info = {}  # no EXIF, GPS, XMP, comments or text chunks travel to the derivative
    return out


def render(src_path: str, dst_path: str, request: ResizeRequest, output_format: str, max_pixels: int,
           max_side: int, max_frames: int = DEFAULT_MAX_FRAMES, max_animation_pixels: int | None = None,
           max_output_pixels: int | None = None, quality: int | None = None) -> Rendered:
    """Read ``src_path``, crop-resize it, write the result to ``dst_path``. Blocking; for the executor.

    ``max_animation_pixels`` (default ``max_pixels``) bounds frames x max(canvas, output) pixels of an
    animation kept as one; ``max_frames`` its frame count; ``max_output_pixels`` the output's area.
    """
    fmt = OUTPUT_FORMATS[output_format][0]
    budget = max_pixels if max_animation_pixels is None else max_animation_pixels
    im = open_image(src_path, max_pixels)
    try:
        try:
            stored = im.size
            orientation = orientation_of(im)
            upright = (stored[1], stored[0]) if orientation in _SWAPS_SIDES else stored
            tw, th = plan_size(upright[0], upright[1], request, max_side, max_output_pixels)
            raw_target = (th, tw) if orientation in _SWAPS_SIDES else (tw, th)
            icc = im.info.get("icc_profile") if im.mode != "CMYK" else None
            # Only GIF/WebP animations are kept: an MPO (camera JPEG with a preview image) or an APNG
            # also reports is_animated, but its extra frames are not an animation people expect to see.
            animated = (im.format in ("GIF", "WEBP") and bool(getattr(im, "is_animated", False))
                        and fmt in ("GIF", "WEBP"))
            if not animated:
                if isinstance(im, JpegImagePlugin.JpegImageFile):  # JPEG and MPO
                    im.draft(None, _draft_size(stored, raw_target, request.mode))
                first = _one_frame(im, raw_target, request, orientation, fmt)
            else:
                check_animation(scan_animation(im, src_path, max_frames), tw * th, max_pixels, max_frames, budget)
            loop = im.info.get("loop")
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"the image has too many pixels ({exc})") from None
        except _DECODE_ERRORS as exc:
            raise CorruptImage(f"the image is damaged or truncated: {exc}") from None
        if not animated:
            _save(first, None, [], loop, icc, dst_path, fmt, quality)
            return Rendered(first.width, first.height, 1)
        # Frames are resized as the encoder asks for them (``append_images`` is a generator), not all
        # up front. Pillow's GIF writer still keeps every frame it was given (palette copies, 1 byte a
        # pixel) to diff them, and its WebP writer list()s ``append_images`` before encoding, so memory
        # is bounded by the caps checked above (max_frames, max_animation_pixels), not by streaming.
        durations: list[int] = []
        counter = _Count()
        frames = _frames(im, raw_target, request, orientation, fmt, durations, counter, max_frames, budget)
        first = next(frames, None)
        if first is None:
            raise CorruptImage("the animation has no readable frame")
        # The durations list fills as the frames come: Pillow reads entry i after taking frame i.
        _save(first, frames, durations, loop, icc, dst_path, fmt, quality)
        return Rendered(first.width, first.height, counter.value)
    finally:
        im.close()


class _Count:
    value = 0


def _frames(im: Image.Image, raw_target: tuple[int, int], request: ResizeRequest, orientation: int, fmt: str,
            durations: list[int], counter: _Count, max_frames: int, budget: int) -> Iterator[Image.Image]:
    """Each frame resized, decoded only when the encoder asks for it; the caps are checked again before
    each decode (the scan above counts what the file says, this what Pillow really produces)."""
    out_pixels = raw_target[0] * raw_target[1]
    spent = 0
    try:
        for index, frame in enumerate(ImageSequence.Iterator(im)):
            if index >= max_frames:
                raise TooManyFrames(f"the animation has more than {max_frames} frames")
            spent += max(frame.width * frame.height, out_pixels)
            if spent > budget:
                raise ImageTooLarge(f"the animation has too many frames to resize (limit {budget} pixels in all)")
            durations.append(int(frame.info.get("duration") or 100))
            out = _one_frame(frame, raw_target, request, orientation, fmt)
            counter.value += 1
            yield out
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"the image has too many pixels ({exc})") from None
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"the image is damaged or truncated: {exc}") from None


def _save(first: Image.Image, rest: Iterator[Image.Image] | None, durations: list[int], loop: int | None,
          icc: bytes | None, path: str, fmt: str, quality: int | None = None) -> None:
    params: dict[str, object] = {}
    if fmt == "JPEG":
        params.update(quality=quality or JPEG_QUALITY, progressive=True, optimize=True)
    elif fmt == "PNG":
        params.update(compress_level=6)
    elif fmt == "WEBP":
        params.update(quality=quality or WEBP_QUALITY, method=4)
    elif fmt == "AVIF":
        params.update(quality=quality or AVIF_QUALITY, speed=8)
    if icc and fmt != "GIF":
        params["icc_profile"] = icc  # colour profile is not personal metadata; dropping it shifts colours
    if rest is not None:
        params.update(save_all=True, append_images=rest, duration=durations)
        if loop is not None:
            params["loop"] = loop
        if fmt == "GIF":
            params["disposal"] = 2  # every frame is a full picture: clear before drawing the next
    try:
        first.save(path, format=fmt, **params)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(str(exc)) from exc
        raise
