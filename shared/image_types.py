"""Which profile photos are kept: JPEG, PNG or GIF as their first bytes say (never as a header says), 4 MiB at
most. Anything else could be a page a browser would run, or a file too large to keep."""

from __future__ import annotations

MAX_PHOTO_BYTES = 4 * 1024 * 1024
IMAGE_TYPES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff(data: bytes) -> str | None:
    """The image type the bytes begin with (image/jpeg, image/png or image/gif); None for anything else."""
    return next((kind for magic, kind in IMAGE_TYPES if data.startswith(magic)), None)


def photo_problem(data: bytes, complete: bool, labelled: str | None) -> str | None:
    """Why a photo is not kept ("is larger than 4 MiB"), None when it is. ``complete``: whether ``data`` is
    the whole photo (it was cut off past MAX_PHOTO_BYTES); ``labelled``: the type its sender claimed."""
    if not complete or len(data) > MAX_PHOTO_BYTES:
        return f"is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MiB"
    if sniff(data) is None:
        claimed = "".join(c for c in (labelled or "no type") if c.isprintable())[:60]
        return f"is not a JPEG, PNG or GIF image (it was sent as {claimed})"
    return None
