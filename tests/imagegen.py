"""Small generated images for the image tests (bytes, made in memory, a few KB each)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
STRIPES = (RED, GREEN, BLUE, YELLOW)


def stripes(width: int = 400, height: int = 200, mode: str = "RGB") -> Image.Image:
    """Four vertical stripes R, G, B, Y of equal width: crops and scales show in the pixels."""
    im = Image.new("RGB", (width, height))
    step = width // 4
    for index, colour in enumerate(STRIPES):
        im.paste(colour, (index * step, 0, (index + 1) * step, height))
    return im.convert(mode) if mode != "RGB" else im


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, format=fmt, **params)
    return out.getvalue()


def stripes_bytes(fmt: str = "PNG", width: int = 400, height: int = 200, **params: object) -> bytes:
    return encode(stripes(width, height), fmt, **params)


def exif_with(orientation: int | None = None, gps: bool = False) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    exif[0x010F] = "CameraMaker"  # Make
    if gps:
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return exif.tobytes()


def rotated_jpeg() -> bytes:
    """Stored 200x100, left half red, right half blue, EXIF orientation 6 (display: rotate 90 deg clockwise).

    Shown upright it is 100x200 with red on top and blue at the bottom.
    """
    im = Image.new("RGB", (200, 100), RED)
    im.paste(BLUE, (100, 0, 200, 100))
    return encode(im, "JPEG", quality=95, exif=exif_with(6))


def animated_gif(size: tuple[int, int] = (60, 40), colours=(RED, GREEN, BLUE),
                 durations=(100, 200, 300)) -> bytes:
    frames = [Image.new("RGB", size, c) for c in colours]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=list(durations), loop=0)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's shape): ~60 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def close(pixel, expected, tolerance: int = 40) -> bool:
    """Lossy formats move colours a little; a wrong crop or rotation moves them a lot."""
    pixel = pixel if isinstance(pixel, tuple) else (pixel,)
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, expected, strict=False))


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im
