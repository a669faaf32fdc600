"""What a video, audio or PDF file is, read by ffprobe or pdfinfo within limits (blocking; for the executor).

The demuxer is forced from the sniffed type (``-f mov``, ``-f matroska``...): ffmpeg never guesses
a playlist or concat demuxer for an uploaded file, so a file cannot make it open other files or URLs.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from tornado_paste.previews.errors import CorruptMedia, MediaTooLarge, NoPreview
from tornado_paste.previews.sandbox import ToolLimits, run_tool

# Sniffed MIME type -> ffmpeg demuxer (only these are ever opened by ffmpeg).
DEMUXERS = {
    "video/mp4": "mov", "video/quicktime": "mov", "video/3gpp": "mov", "audio/mp4": "mov", "audio/x-m4a": "mov",
    "video/webm": "matroska", "video/x-matroska": "matroska", "audio/webm": "matroska",
    "video/x-msvideo": "avi", "video/mpeg": "mpeg", "video/mp2t": "mpegts", "video/x-flv": "flv",
    "video/ogg": "ogg", "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/x-wav": "wav", "audio/wav": "wav",
    "audio/flac": "flac", "audio/x-flac": "flac", "audio/aac": "aac", "audio/x-aiff": "aiff",
}
# ffprobe reads at most this much of the file to find the streams (its defaults, made explicit).
PROBE_BYTES = 5_000_000
PDF_MIMETYPE = "application/pdf"
_PAGES_RE = re.compile(rb"^Pages:\s+(\d+)\s*$", re.M)
_NUMBER = rb"([\d.]+(?:e[+-]?\d+)?)"
_PAGE_SIZE_RE = re.compile(rb"^Page\s+1\s+size:\s+" + _NUMBER + rb"\s+x\s+" + _NUMBER + rb"\s+pts", re.M | re.I)
_ROT_RE = re.compile(rb"^Page\s+1\s+rot:\s+(\d+)", re.M)


@dataclass
class MediaInfo:
    """What the record keeps in ``media`` (None fields left out)."""

    duration: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    cover: bool = False  # an audio file with embedded cover art
    pages: int | None = None
    page_width: float | None = None  # points (1/72 in)
    page_height: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}


def demuxer_for(mimetype: str) -> str:
    try:
        return DEMUXERS[mimetype]
    except KeyError:
        raise NoPreview(f"cannot preview {mimetype}") from None


def ffmpeg_input(path: str, mimetype: str) -> list[str]:
    """The input options every ffmpeg/ffprobe run uses: forced demuxer, local file protocol only."""
    return ["-f", demuxer_for(mimetype), "-protocol_whitelist", "file", "-probesize", str(PROBE_BYTES),
            "-i", f"file:{path}"]


def probe_av(path: str, mimetype: str, limits: ToolLimits, max_pixels: int) -> MediaInfo:
    """Duration, codecs and dimensions of a video or audio file (ffprobe)."""
    out = run_tool(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                    *ffmpeg_input(path, mimetype)], limits, "the media file")
    try:
        doc = json.loads(out)
    except ValueError:
        raise CorruptMedia("ffprobe gave no readable answer") from None
    info = parse_probe(doc)
    if info.width and info.height and info.width * info.height > max_pixels:
        raise MediaTooLarge(f"the video is {info.width}x{info.height}; at most {max_pixels} pixels can be previewed")
    return info


def parse_probe(doc: dict[str, Any]) -> MediaInfo:
    info = MediaInfo()
    streams = doc.get("streams") or []
    info.duration = _seconds((doc.get("format") or {}).get("duration"))
    for stream in streams:
        kind = stream.get("codec_type")
        cover = bool((stream.get("disposition") or {}).get("attached_pic"))
        if kind == "video" and cover:
            info.cover = True
        elif kind == "video" and info.video_codec is None:
            info.video_codec = str(stream.get("codec_name") or "unknown")[:32]
            info.width, info.height = _int(stream.get("width")), _int(stream.get("height"))
            if _rotation(stream) in (90, 270) and info.width and info.height:
                info.width, info.height = info.height, info.width
            info.duration = info.duration or _seconds(stream.get("duration"))
        elif kind == "audio" and info.audio_codec is None:
            info.audio_codec = str(stream.get("codec_name") or "unknown")[:32]
            info.duration = info.duration or _seconds(stream.get("duration"))
    if info.video_codec is None and info.audio_codec is None:
        raise CorruptMedia("the file has no audio or video stream")
    return info


def probe_pdf(path: str, limits: ToolLimits, max_page_points: float) -> MediaInfo:
    """Page count and first-page size (pdfinfo); refuses pages larger than ``max_page_points`` a side."""
    out = run_tool(["pdfinfo", "-f", "1", "-l", "1", path], limits, "the PDF")
    pages = _PAGES_RE.search(out)
    if pages is None:
        raise CorruptMedia("the PDF has no readable page count")
    info = MediaInfo(pages=int(pages.group(1)))
    size = _PAGE_SIZE_RE.search(out)
    if size is not None:
        width, height = float(size.group(1)), float(size.group(2))
        rotation = _ROT_RE.search(out)
        if rotation is not None and int(rotation.group(1)) % 180 == 90:
            width, height = height, width
        info.page_width, info.page_height = round(width, 2), round(height, 2)
        if max(width, height) > max_page_points:
            raise MediaTooLarge(f"the PDF's first page is {width:g} x {height:g} pt; "
                                f"at most {max_page_points:g} pt a side can be previewed")
    if info.pages < 1:
        raise CorruptMedia("the PDF has no pages")
    return info


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(float(side["rotation"])) % 360
    return int(float((stream.get("tags") or {}).get("rotate", 0) or 0)) % 360


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return round(seconds, 3) if 0 <= seconds < 1e9 else None


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
