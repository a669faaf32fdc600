"""Media the preview tests make themselves: ffmpeg videos and audio, PDFs, camera-style photos.

Nothing is downloaded: ffmpeg's lavfi sources draw the frames, Pillow (or a few lines by hand)
writes the PDFs, piexif writes EXIF as a camera would (GPS, maker notes), XMP and ICC are added by
hand. Each generator returns bytes; ``unique`` varies them so uploads never dedupe onto each other.
"""

from __future__ import annotations

import io
import itertools
import subprocess
import tempfile
import zlib
from pathlib import Path

import piexif
from PIL import Image, ImageCms

from tests.helpers import require_tool

_counter = itertools.count(1)


def _ffmpeg(*args: str) -> bytes:
    ffmpeg = require_tool("ffmpeg")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("out." + args[-1])
        subprocess.run([ffmpeg, "-v", "error", "-nostdin", "-y", *args[:-1], str(out)], check=True, timeout=60)
        return out.read_bytes()


def video_mp4(seconds: int = 4, size: str = "320x240", dark_first: float = 1.0) -> bytes:
    """An H.264/AAC MP4: ``dark_first`` seconds of black, then ffmpeg's colour test pattern (the distinct
    frame a poster must show), with a tone; ``+faststart`` so the index is at the front."""
    n = next(_counter)
    rest = seconds - dark_first
    return _ffmpeg("-f", "lavfi", "-i", f"color=c=black:s={size}:d={dark_first}:r=25",
                   "-f", "lavfi", "-i", f"testsrc=s={size}:d={rest}:r=25",
                   "-f", "lavfi", "-i", f"sine=frequency={200 + n}:duration={seconds}",
                   "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-map", "2:a",
                   "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                   "-shortest", "-movflags", "+faststart", "mp4")


def webm_video(seconds: int = 2) -> bytes:
    n = next(_counter)
    return _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x120:d={seconds}:r=10", "-f", "lavfi", "-i",
                   f"sine=frequency={300 + n}:duration={seconds}", "-c:v", "libvpx", "-b:v", "200k",
                   "-c:a", "libopus", "-shortest", "webm")


def audio_mp3(seconds: int = 3, cover: bool = True) -> bytes:
    """An MP3 with a tone and (optionally) an embedded cover (a red square with a blue stripe)."""
    n = next(_counter)
    with tempfile.TemporaryDirectory() as tmp:
        args = ["-f", "lavfi", "-i", f"sine=frequency={400 + n}:duration={seconds}"]
        if cover:
            art = Path(tmp) / "cover.png"
            image = Image.new("RGB", (300, 300), (220, 30, 30))
            image.paste((20, 40, 220), (0, 120, 300, 180))
            image.save(art)
            args += ["-i", str(art), "-map", "0:a", "-map", "1:v", "-c:v", "png", "-disposition:v", "attached_pic",
                     "-metadata:s:v", "title=Album cover"]
        return _ffmpeg(*args, "-c:a", "libmp3lame", "-b:a", "64k", "-id3v2_version", "3", "mp3")


def truncated(data: bytes, keep: float = 0.4) -> bytes:
    return data[: int(len(data) * keep)]


def pdf_pages(pages: int = 3) -> bytes:
    """A PDF of ``pages`` pages by Pillow's writer: page 1 is red with a white band (its thumbnail)."""
    n = next(_counter)
    images = []
    for i in range(pages):
        page = Image.new("RGB", (420, 297), (200, 20 + n % 50, 20) if i == 0 else (20, 20 + 60 * i % 200, 200))
        if i == 0:
            page.paste((255, 255, 255), (0, 120, 420, 170))
        images.append(page)
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=72, title=f"test {n}")
    return out.getvalue()


def pdf_by_hand(media_box: str = "0 0 300 200", content: bytes = b"", extra_objects: list[bytes] = ()) -> bytes:
    """A one-page PDF written object by object (with a correct xref), for hostile page sizes and streams."""
    n = next(_counter)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [" + media_box.encode() + b"] /Contents 4 0 R"
               b" /Resources << /XObject << /Im1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream", *extra_objects]
    out = bytearray(b"%PDF-1.4\n%" + str(n).encode() + b"\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_image_bomb(side: int = 20000) -> bytes:
    """A PDF whose page draws a ``side`` x ``side`` greyscale image that deflates from a few hundred KB."""
    compressor = zlib.compressobj(9)
    row = bytes(side)
    packed = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    image = (b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8"
             b" /Filter /FlateDecode /Length %d >>\nstream\n" % (side, side, len(packed)) + packed + b"\nendstream")
    return pdf_by_hand("0 0 600 600", b"q 600 0 0 600 0 0 cm /Im1 Do Q", [image])


XMP_WITH_GPS = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
                b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
                b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.4N" '
                b'exif:GPSLongitude="2,21.0E"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
XMP_PLAIN = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
             b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
             b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="TestCam 1.0"/></rdf:RDF></x:xmpmeta>'
             b'<?xpacket end="w"?>')
MAKER_NOTE = b"TESTCAM\x00" + bytes(range(256)) * 2


def camera_exif(orientation: int = 6, gps: bool = True) -> bytes:
    """EXIF as a phone writes it: make/model, orientation, date, a maker note, GPS, and a thumbnail IFD."""
    n = next(_counter)
    zeroth = {piexif.ImageIFD.Make: b"TestCam", piexif.ImageIFD.Model: b"Model %d" % n,
              piexif.ImageIFD.Orientation: orientation, piexif.ImageIFD.Software: b"firmware 1.2"}
    exif_ifd = {piexif.ExifIFD.DateTimeOriginal: b"2024:05:06 07:08:09", piexif.ExifIFD.MakerNote: MAKER_NOTE,
                piexif.ExifIFD.LensModel: b"TestLens 4mm"}
    gps_ifd = {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2400, 100)),
               piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((2, 1), (21, 1), (0, 1)),
               piexif.GPSIFD.GPSAltitude: (35, 1), piexif.GPSIFD.GPSMapDatum: b"WGS-84"} if gps else {}
    thumb = io.BytesIO()
    Image.new("RGB", (40, 30), (n % 256, 100, 100)).save(thumb, "JPEG")
    first = {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0}
    return piexif.dump({"0th": zeroth, "Exif": exif_ifd, "GPS": gps_ifd, "1st": first, "thumbnail": thumb.getvalue()})


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_jpeg(orientation: int = 6, gps: bool = True, xmp: bytes | None = XMP_WITH_GPS,
                size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG with camera EXIF (GPS, maker note), an XMP packet, an ICC profile and a comment."""
    n = next(_counter)
    image = Image.new("RGB", size, (n * 37 % 256, 90, 200))
    image.paste((250, 250, 0), (0, 0, size[0] // 2, size[1] // 3))  # a corner that shows the orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=camera_exif(orientation, gps), icc_profile=srgb_icc(),
               comment=b"shot at home")
    data = out.getvalue()
    if xmp is not None:  # an APP1 XMP segment right after the EXIF one
        segment = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
        data = data[:2] + b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment + data[2:]
    return data


def camera_png(gps: bool = True) -> bytes:
    n = next(_counter)
    image = Image.new("RGB", (32, 24), (n * 53 % 256, 10, 10))
    out = io.BytesIO()
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "shot at home")
    info.add_itxt("XML:com.adobe.xmp", XMP_WITH_GPS.decode())
    image.save(out, "PNG", exif=camera_exif(1, gps), pnginfo=info, icc_profile=srgb_icc())
    return out.getvalue()


def camera_webp(gps: bool = True) -> bytes:
    n = next(_counter)
    image = Image.new("RGB", (32, 24), (10, n * 53 % 256, 10))
    out = io.BytesIO()
    image.save(out, "WEBP", exif=camera_exif(6, gps), xmp=XMP_WITH_GPS, icc_profile=srgb_icc(), quality=90)
    return out.getvalue()


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the first scan."""
    out, at = [], 2
    while at < len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2:at + 4], "big")
        out.append((marker, data[at + 4:at + 2 + length]))
        if marker == 0xDA:
            break
        at += 2 + length
    return out


def scan_data(data: bytes) -> bytes:
    """The bytes from the first scan on (what lossless stripping must leave untouched), found by walking
    the segments (an EXIF thumbnail is a JPEG too: its own scan marker comes earlier in the file)."""
    at = 2
    while data[at + 1] != 0xDA:
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return data[at:]
