"""Files for the media tests, made on the spot: images with Pillow, an MP4 by hand."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

from PIL import Image


def image(fmt: str = "PNG", size: tuple[int, int] = (640, 480), mode: str = "RGB") -> bytes:
    picture = Image.new(mode, size, (200, 40, 90) if mode == "RGB" else None)
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims an enormous image."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def corrupt_png() -> bytes:
    """A PNG signature and header followed by garbage."""
    good = image("PNG", (64, 64))
    return good[:40] + b"\x00garbage" * 50


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(duration_s: float = 12.5, width: int = 1280, height: int = 720, version: int = 0) -> bytes:
    """An MP4 with `ftyp`, a `moov` (mvhd and one video track's tkhd) and an `mdat`."""
    timescale = 1000
    duration = int(duration_s * timescale)
    if version == 1:
        mvhd = struct.pack(">B3xQQIQ", 1, 0, 0, timescale, duration) + b"\x00" * 80
        tkhd = struct.pack(">B3xQQI4xQ", 1, 0, 0, 1, duration) + b"\x00" * 52
    else:
        mvhd = struct.pack(">B3xIIII", 0, 0, 0, timescale, duration) + b"\x00" * 80
        tkhd = struct.pack(">B3xIII4xI", 0, 0, 0, 1, duration) + b"\x00" * 52
    tkhd += struct.pack(">II", width << 16, height << 16)
    sound = _box(b"tkhd", struct.pack(">B3xIII4xI", 0, 0, 0, 2, duration) + b"\x00" * 60)
    moov = _box(
        b"moov", _box(b"mvhd", mvhd) + _box(b"trak", sound) + _box(b"trak", _box(b"tkhd", tkhd))
    )
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    return ftyp + _box(b"mdat", b"\x00" * 4096) + moov
