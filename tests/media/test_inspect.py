"""Sniffing and measuring files: what the bytes are, whatever they claim; no input breaks it."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from t21.core.errors import PayloadTooLarge, ValidationFailed
from t21.media.inspect import inspect_file, read_mp4, sniff
from tests.media import files

SIGNATURES = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"\x00\x00\x00\x18ftypisom",
    b"\x00\x00\x00\x18ftypqt  ",
    b"",
]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (files.image("JPEG"), "image/jpeg"),
        (files.image("PNG"), "image/png"),
        (files.image("GIF", mode="P"), "image/gif"),
        (files.image("WEBP"), "image/webp"),
        (files.mp4(), "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00avifmif1", None),
        (b"%PDF-1.7", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
    ],
)
def test_the_type_comes_from_the_bytes(data: bytes, expected: str | None) -> None:
    assert sniff(data[:64]) == expected


@pytest.mark.parametrize("version", [0, 1])
def test_mp4_duration_and_frame_size_come_from_mvhd_and_tkhd(version: int) -> None:
    data = files.mp4(duration_s=61.25, width=1920, height=1080, version=version)
    assert read_mp4(io.BytesIO(data), len(data)) == (61.25, 1920, 1080)


def test_an_mp4_without_a_moov_box_has_no_duration() -> None:
    data = files.mp4()
    cut = data[: data.index(b"moov") - 4]
    assert read_mp4(io.BytesIO(cut), len(cut)) == (None, None, None)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(prefix=st.sampled_from(SIGNATURES), tail=st.binary(max_size=2048))
def test_any_bytes_are_measured_or_refused_as_a_client_error(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    try:
        result = inspect_file(io.BytesIO(data), declared_type=None, max_bytes=1500)
    except (ValidationFailed, PayloadTooLarge):
        return
    assert result.size == len(data)


@settings(max_examples=200, deadline=None)
@given(boxes=st.binary(max_size=4096))
def test_the_box_walker_never_fails_on_hostile_input(boxes: bytes) -> None:
    data = b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + boxes
    duration, width, height = read_mp4(io.BytesIO(data), len(data))
    assert all(value is None or value >= 0 for value in (duration, width, height))


@pytest.mark.parametrize(
    "moov",
    [
        b"\x00\x00\x00\x08mvhd",
        b"\x00\x00\x00\x0cmvhd\x01\x00\x00\x00",
        b"\x00\x00\x00\x10trak\x00\x00\x00\x08tkhd",
        b"\x00\x00\x00\x01mvhd\x00\x00\x00\x00\x00\x00\x00\x04",
    ],
)
def test_truncated_boxes_give_no_measure_and_are_no_mp4(moov: bytes) -> None:
    data = b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00" + struct.pack(">I", 8 + len(moov))
    data += b"moov" + moov
    assert read_mp4(io.BytesIO(data), len(data)) == (None, None, None)
    with pytest.raises(ValidationFailed, match="isn't one"):
        inspect_file(io.BytesIO(data), declared_type=None, max_bytes=1000)
