"""Which photos are kept: JPEG, PNG or GIF by their first bytes, 4 MiB at most."""

from __future__ import annotations

import pytest

from shared.image_types import MAX_PHOTO_BYTES, photo_problem, sniff
from simulator.images import jpeg, png


@pytest.mark.parametrize(
    "data, kind",
    [
        (jpeg((1, 2, 3)), "image/jpeg"),
        (b"\xff\xd8\xff\xe1rest of an Exif JPEG", "image/jpeg"),
        (png((1, 2, 3)), "image/png"),
        (b"GIF87a\x01\x00\x01\x00", "image/gif"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
    ],
)
def test_images_are_known_by_their_first_bytes(data, kind):
    assert sniff(data) == kind
    assert photo_problem(data, complete=True, labelled="application/octet-stream") is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<!doctype html><script>alert(1)</script>",
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        b"\xff\xd8",  # too short to be a JPEG
        b"\xff\xd8\xfe",
        b"\x89PNG\r\n\x1a",  # a PNG signature one byte short
        b"\x89PNG\n\r\x1a\n",
        b"GIF88a",
        b"gif89a",
        b" \xff\xd8\xff",  # the signature must come first
        b"BM\x00\x00",  # a bitmap: an image, not one of the three
        b"RIFF\x00\x00\x00\x00WEBP",
        b"%PDF-1.7",
    ],
)
def test_anything_else_is_no_photo_whatever_it_is_labelled(data):
    assert sniff(data) is None
    problem = photo_problem(data, complete=True, labelled="image/jpeg")
    assert problem == "is not a JPEG, PNG or GIF image (it was sent as image/jpeg)"


def test_at_most_4_mib():
    exactly = b"\xff\xd8\xff" + bytes(MAX_PHOTO_BYTES - 3)
    assert photo_problem(exactly, complete=True, labelled="image/jpeg") is None
    assert photo_problem(exactly + b"\x00", complete=True, labelled="image/jpeg") == "is larger than 4 MiB"
    # Cut off past the limit, or not read at all for a length announced beyond it.
    assert photo_problem(b"", complete=False, labelled="image/jpeg") == "is larger than 4 MiB"


def test_the_claimed_type_is_shown_short_and_printable():
    problem = photo_problem(b"<html>", complete=True, labelled="text/html\x00" + "x" * 200)
    assert problem == f"is not a JPEG, PNG or GIF image (it was sent as text/html{'x' * 51})"
    assert photo_problem(b"<html>", complete=True, labelled=None).endswith("(it was sent as no type)")
