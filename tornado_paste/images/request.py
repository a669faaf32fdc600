"""What a resize asks for, validated, and the output size it gets: pure functions, no Pillow.

``parse_request`` turns client strings into a ``ResizeRequest``; ``plan_size``
plans the output for an upright source of a given size. Without ``upscale``
the output is never larger than the source: a request for more is scaled down,
keeping the asked shape, until one side meets the source's (so ``w=4096`` of a
300 px wide image answers 300 px wide). ``effective_request`` is that clamped
request, which is what the derivative cache keys on, so every oversized ask of
one image lands on the same cache entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tornado_paste.images.errors import BadResize

MODES = ("fill", "fit")
# Output name (as in ?format=); aliases accepted.
OUTPUT_NAMES = ("jpeg", "png", "webp", "gif", "avif")
# Picked from the Accept header (images/formats.py).
AUTO = "auto"
FORMAT_ALIASES = {"jpg": "jpeg"}
_TRUE = ("1", "true", "yes", "on")


class OutputTooLarge(BadResize):
    code = "output_too_large"


@dataclass(frozen=True)
class ResizeRequest:
    """What the client asked for; ``None`` sides follow the aspect ratio, ``format`` None = the source's.

    ``upscale``: the output may be larger than the source (up to the max side and output area).
    """

    w: int | None
    h: int | None
    mode: str = "fill"
    format: str | None = None
    upscale: bool = False

    def key(self, output_format: str) -> str:
        """The cache key under a parent: requested values, with the format resolved."""
        key = f"w={self.w or ''}&h={self.h or ''}&mode={self.mode}&format={output_format}"
        return key + "&upscale=1" if self.upscale else key


def _side(raw: str | None, name: str, max_side: int) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise BadResize(f"'{name}' must be a whole number of pixels")
    value = int(raw)
    if value < 1:
        raise BadResize(f"'{name}' must be at least 1")
    if value > max_side:
        raise BadResize(f"'{name}' must be at most {max_side}")
    return value


def parse_request(w: str | None, h: str | None, mode: str | None, fmt: str | None,
                  max_side: int, upscale: str | None = None) -> ResizeRequest:
    """Validate query/form values (strings) into a ResizeRequest; BadResize on anything off."""
    width, height = _side(w, "w", max_side), _side(h, "h", max_side)
    if width is None and height is None:
        raise BadResize("give 'w', 'h' or both (pixels)")
    mode = (mode or "fill").strip().lower() or "fill"
    if mode not in MODES:
        raise BadResize("'mode' must be fill or fit")
    name = (fmt or "").strip().lower() or None
    if name is not None:
        name = FORMAT_ALIASES.get(name, name)
        if name not in OUTPUT_NAMES and name != AUTO:
            raise BadResize("'format' must be jpeg, png, webp, gif, avif or auto")
    flag = (upscale or "").strip().lower()
    if flag not in ("", "0", "false", "no", "off", *_TRUE):
        raise BadResize("'upscale' must be 1 or 0")
    return ResizeRequest(width, height, mode, name, flag in _TRUE)


def _scale_and_size(src_w: int, src_h: int, request: ResizeRequest) -> tuple[float, int, int]:
    """The scale factor from the source and the output size, before any limit."""
    w, h = request.w, request.h
    if w is not None and h is not None:
        if request.mode == "fill":
            return max(w / src_w, h / src_h), w, h
        scale = min(w / src_w, h / src_h)
        return scale, max(1, min(w, round(src_w * scale))), max(1, min(h, round(src_h * scale)))
    if w is not None:
        return w / src_w, w, max(1, round(src_h * w / src_w))
    assert h is not None
    return h / src_h, max(1, round(src_w * h / src_h)), h


def plan_size(src_w: int, src_h: int, request: ResizeRequest, max_side: int,
              max_output_pixels: int | None = None) -> tuple[int, int]:
    """Output width x height for an upright source of src_w x src_h.

    Without ``request.upscale`` never larger than the source (the asked shape, scaled down to it).
    BadResize when a side would exceed ``max_side``, OutputTooLarge over ``max_output_pixels``.
    """
    scale, tw, th = _scale_and_size(src_w, src_h, request)
    if scale > 1 and not request.upscale:
        tw, th = max(1, min(src_w, round(tw / scale))), max(1, min(src_h, round(th / scale)))
    if tw > max_side:
        raise BadResize(f"keeping the aspect ratio, the width would be {tw} px (over {max_side})")
    if th > max_side:
        raise BadResize(f"keeping the aspect ratio, the height would be {th} px (over {max_side})")
    if max_output_pixels is not None and tw * th > max_output_pixels:
        raise OutputTooLarge(f"the output would be {tw}x{th} px; at most {max_output_pixels} pixels "
                             "can be made")
    return tw, th


def effective_request(request: ResizeRequest, src_w: int, src_h: int, max_side: int,
                      max_output_pixels: int | None = None) -> ResizeRequest:
    """The request as it will be rendered from an upright src_w x src_h source (checked against the limits):
    unchanged when it does not enlarge, the clamped output size when it would without ``upscale``."""
    tw, th = plan_size(src_w, src_h, request, max_side, max_output_pixels)
    scale = _scale_and_size(src_w, src_h, request)[0]
    if scale <= 1:
        return replace(request, upscale=False)
    if request.upscale:
        return request
    return ResizeRequest(tw, th, request.mode, request.format)
