"""The preview refusals (kinds from ``tornado_paste.errors``, so handlers/errors.py maps them)."""

from __future__ import annotations

from tornado_paste import errors


class NoPreview(errors.TypeRefused):
    """This type of file has no poster or thumbnail (415)."""

    code = "no_preview"
    reason = "bad_request"


class NoCoverArt(errors.NotFound):
    """An audio file without embedded cover art (404)."""

    code = "no_cover_art"


class MediaRefused(errors.Unprocessable):
    """The file is fine to store, but making its preview is refused (422)."""

    code = "media_refused"


class CorruptMedia(MediaRefused):
    code = "corrupt_media"


class MediaTooLarge(MediaRefused):
    """Over a limit: dimensions, page size, or the memory the tool may use."""

    code = "media_too_large"


class MediaTimeout(MediaRefused):
    """The tool ran out of its time limit (a hostile or endless file)."""

    code = "media_timeout"


class ToolMissing(errors.Unavailable):
    """ffmpeg/ffprobe or poppler is not installed on this host (503)."""

    code = "preview_unavailable"
