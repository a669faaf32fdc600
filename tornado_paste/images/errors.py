"""The image refusals (kinds from ``tornado_paste.errors``, so handlers/errors.py maps them)."""

from __future__ import annotations

from tornado_paste import errors


class ImageError(errors.BadRequest):
    """An image request refused for a reason the client can act on."""

    code = "bad_image"


class NotAnImage(errors.TypeRefused, ImageError):
    code = "not_an_image"
    reason = "bad_request"


class UnsupportedImage(errors.TypeRefused, ImageError):
    code = "unsupported_image"
    reason = "bad_request"


class CorruptImage(ImageError):
    code = "corrupt_image"


class ImageTooLarge(ImageError):
    code = "image_too_large"


class TooManyFrames(errors.Unprocessable, ImageTooLarge):
    code = "image_too_many_frames"


class BadResize(ImageError):
    code = "bad_parameter"
