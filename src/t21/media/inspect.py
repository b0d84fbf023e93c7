"""What an uploaded file really is: the type sniffed from its bytes, its SHA-256, an image's size
(checked by decoding it, with a thumbnail) and a video's duration and frame size.

Nothing here trusts a declared type or a filename. Everything runs on a seekable file, in a
thread (`inspect_file` blocks): a video is never read whole, only its boxes are walked.

A small file can declare a huge image (a 343 KB PNG of 9400x9400 decodes to ~350 MB), so an
image's size is read from its header first and one over `max_pixels` is refused before any
pixel is decoded; the thumbnail is decoded at reduced scale where the format allows (JPEG's
`draft`) and shrunk with `reduce` steps. An "MP4" whose boxes don't make an MP4 (an `ftyp`
then anything) is refused too.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from t21.core.errors import PayloadTooLarge, ValidationFailed

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
SUPPORTED_TYPES = IMAGE_TYPES | VIDEO_TYPES
# Other spellings of the same types that clients send.
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
# MP4 and QuickTime are both ISO base media files; a declared one is no lie about the other.
FAMILIES = {"video/quicktime": "video/mp4"}
# Declared when a client doesn't know: never a claim to check.
UNKNOWN_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
PILLOW_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
# ISO base media files that hold still images (HEIF, AVIF), not video.
STILL_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
)
THUMBNAIL_SIZE = (512, 512)
# The largest image any network accepts (LinkedIn: fewer than 36,152,320 pixels); the
# `T21_MEDIA_MAX_IMAGE_PIXELS` setting's default.
DEFAULT_MAX_IMAGE_PIXELS = 36_152_319
CHUNK = 1024 * 1024
MAX_BOXES = 10_000


@dataclass(frozen=True)
class Inspection:
    content_type: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    thumbnail: bytes | None = None


def normalise_type(declared: str | None) -> str:
    """`declared` lower-cased, without parameters, with aliases resolved."""
    base = (declared or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def same_type(declared: str, sniffed: str) -> bool:
    return FAMILIES.get(declared, declared) == FAMILIES.get(sniffed, sniffed)


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file announce, among the supported ones."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] not in STILL_IMAGE_BRANDS:
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64]:
        return "video/webm"
    return None


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"loc": ["body", field], "msg": message}])


def inspect_file(
    source: BinaryIO,
    *,
    declared_type: str | None,
    max_bytes: int,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    field: str = "file",
    type_field: str | None = None,
) -> Inspection:
    """Sniff, hash and measure `source`. Refuses (422 naming `field`, or `type_field` for a
    type that contradicts `declared_type`) an empty, unsupported or corrupt file, an image of
    more than `max_pixels` pixels, an "MP4" that isn't one, and (413) one over `max_bytes`."""
    source.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The file is larger than {max_bytes} bytes.")
        digest.update(chunk)
    if size == 0:
        raise _refuse(field, "The file is empty.")
    source.seek(0)
    sniffed = sniff(source.read(64))
    if sniffed is None:
        raise _refuse(
            field,
            "Unsupported file type: send a JPEG, PNG, GIF or WebP image, or an MP4, QuickTime "
            "or WebM video.",
        )
    declared = normalise_type(declared_type)
    if declared not in UNKNOWN_TYPES and not same_type(declared, sniffed):
        raise _refuse(
            type_field or field,
            f"The content is {sniffed}, not the declared {declared}.",
        )
    source.seek(0)
    if sniffed in IMAGE_TYPES:
        width, height, thumbnail = _measure_image(source, sniffed, field, max_pixels)
        return Inspection(sniffed, size, digest.hexdigest(), width, height, None, thumbnail)
    duration, width_or_none, height_or_none = (None, None, None)
    if sniffed in {"video/mp4", "video/quicktime"}:
        if not is_mp4(source, size):
            raise _refuse(
                field,
                "The file starts like an MP4 or QuickTime video but isn't one: its boxes don't "
                "hold a movie (moov with a track) and its media data (mdat).",
            )
        duration, width_or_none, height_or_none = read_mp4(source, size)
    return Inspection(
        sniffed, size, digest.hexdigest(), width_or_none, height_or_none, duration, None
    )


# --- images -------------------------------------------------------------------------------------


def _measure_image(
    source: BinaryIO, content_type: str, field: str, max_pixels: int
) -> tuple[int, int, bytes]:
    """Width, height and a JPEG thumbnail. The size comes from the header and is checked before
    anything is decoded; then the first frame is decoded (reduced where the format allows), so
    a corrupt image fails."""
    try:
        with Image.open(source) as image:  # reads the header only
            if PILLOW_FORMATS.get(image.format or "") != content_type:
                raise _refuse(field, "The image is corrupt: its content doesn't match its type.")
            width, height = image.size
            if width * height > max_pixels:
                raise _refuse(
                    field,
                    f"The image is {width}x{height} ({width * height} pixels): at most "
                    f"{max_pixels} pixels are accepted.",
                )
            image.verify()
        source.seek(0)
        with Image.open(source) as image:
            thumbnail = _thumbnail(image)
    except ValidationFailed:
        raise
    except Image.DecompressionBombError:
        # Pillow's own ceiling, far above ours, stops it at the header already.
        raise _refuse(
            field, f"The image has far too many pixels: at most {max_pixels} pixels are accepted."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _refuse(field, f"The image is corrupt or truncated ({type(exc).__name__}).") from None
    except Exception:
        # Pillow's decoders raise many kinds of error on hostile input; all mean the same here.
        raise _refuse(field, "The image is corrupt and can't be read.") from None
    return width, height, thumbnail


def _thumbnail(image: Image.Image) -> bytes:
    """The image within `THUMBNAIL_SIZE`, as JPEG. `thumbnail` asks the decoder for a reduced
    draft (JPEG decodes at 1/2 to 1/8 scale) and shrinks with `reduce` before resampling, so
    the full-size image is decoded at most once and never copied."""
    image.thumbnail(THUMBNAIL_SIZE, reducing_gap=2.0)
    try:
        frame = ImageOps.exif_transpose(image) or image
    except Exception:
        # Unreadable orientation data: the thumbnail is merely not rotated.
        frame = image
    if frame.mode in ("RGBA", "LA", "P", "PA"):
        frame = frame.convert("RGBA")
        background = Image.new("RGB", frame.size, (255, 255, 255))
        background.paste(frame, mask=frame.getchannel("A"))
        frame = background
    elif frame.mode != "RGB":
        frame = frame.convert("RGB")
    out = io.BytesIO()
    frame.save(out, format="JPEG", quality=82, optimize=True)
    return out.getvalue()


# --- MP4 / QuickTime ----------------------------------------------------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def _boxes(source: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes between `start` and `end`: (type, payload start, payload end)."""
    found: list[tuple[bytes, int, int]] = []
    position = start
    while position + 8 <= end and len(found) < MAX_BOXES:
        source.seek(position)
        header = source.read(8)
        if len(header) < 8:
            break
        size, kind = struct.unpack(">I4s", header)
        header_size = 8
        if size == 1:
            large = source.read(8)
            if len(large) < 8:
                break
            size = struct.unpack(">Q", large)[0]
            header_size = 16
        elif size == 0:
            size = end - position
        if size < header_size or position + size > end:
            break
        found.append((kind, position + header_size, position + size))
        position += size
    return found


def _complete_boxes(source: BinaryIO, start: int, end: int) -> list[bytes] | None:
    """The kinds of the boxes that exactly fill `start`..`end`; None if they don't."""
    boxes = _boxes(source, start, end)
    if len(boxes) >= MAX_BOXES or (boxes[-1][2] if boxes else start) != end:
        return None
    return [kind for kind, _, _ in boxes]


def is_mp4(source: BinaryIO, size: int) -> bool:
    """Whether the file is an ISO base media file holding a movie: `ftyp` first, boxes that
    fill the file exactly, media data (`mdat`), and a `moov` whose boxes are whole and hold
    its header (`mvhd`) and at least one track."""
    try:
        top = _boxes(source, 0, size)
        kinds = _complete_boxes(source, 0, size)
        if not kinds or kinds[0] != b"ftyp" or b"mdat" not in kinds:
            return False
        moov = next(((start, end) for kind, start, end in top if kind == b"moov"), None)
        if moov is None:
            return False
        inside = _complete_boxes(source, *moov)
        return inside is not None and b"mvhd" in inside and b"trak" in inside
    except (struct.error, OSError, ValueError):
        return False


def read_mp4(source: BinaryIO, size: int) -> tuple[float | None, int | None, int | None]:
    """Duration (from `moov/mvhd`) and the frame size of the first video track (`tkhd`); None
    where the file doesn't say. Only box headers and those two boxes are read."""
    try:
        return _read_mp4(source, size)
    except (struct.error, OSError, ValueError, IndexError):
        # A malformed file has no measure; it isn't refused for that (networks check again).
        return None, None, None


def _read_mp4(source: BinaryIO, size: int) -> tuple[float | None, int | None, int | None]:
    moov = next((box for box in _boxes(source, 0, size) if box[0] == b"moov"), None)
    if moov is None:
        return None, None, None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    for kind, start, end in _boxes(source, moov[1], moov[2]):
        if kind == b"mvhd":
            duration = _mvhd_duration(source, start, end)
        elif kind == b"trak" and width is None:
            for inner, inner_start, inner_end in _boxes(source, start, end):
                if inner == b"tkhd":
                    width, height = _tkhd_size(source, inner_start, inner_end)
    return duration, width, height


def _mvhd_duration(source: BinaryIO, start: int, end: int) -> float | None:
    source.seek(start)
    payload = source.read(min(end - start, 32))
    if not payload:
        return None
    version = payload[0]
    if version == 1:
        timescale, duration = struct.unpack(">IQ", payload[20:32])
    else:
        timescale, duration = struct.unpack(">II", payload[12:20])
    if timescale == 0 or duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        return None
    return round(int(duration) / int(timescale), 3)


def _tkhd_size(source: BinaryIO, start: int, end: int) -> tuple[int | None, int | None]:
    source.seek(start)
    payload = source.read(min(end - start, 96))
    if not payload:
        return None, None
    # Width and height close the box as 16.16 fixed-point numbers.
    offset = 88 if payload[0] == 1 else 76
    if len(payload) < offset + 8:
        return None, None
    width, height = struct.unpack(">II", payload[offset : offset + 8])
    if width == 0 or height == 0:
        return None, None
    return width >> 16, height >> 16
