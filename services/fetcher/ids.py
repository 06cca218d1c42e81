"""A full read's directory ids, held compactly: a tenant of a million users would otherwise keep a million
strings (about 85 bytes each) and the set's table on top of them, for as long as the read lasts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

GUID_LENGTH = 36


def packed(object_id: str) -> bytes | None:
    """The 16 bytes of a GUID written as Graph writes object ids (lower case, with its four dashes), from
    which ``unpacked`` gives the same string back; None for any other id."""
    if (
        len(object_id) != GUID_LENGTH
        or object_id[8] != "-"
        or object_id[13] != "-"
        or object_id[18] != "-"
        or object_id[23] != "-"
        or not (object_id.islower() or object_id.replace("-", "").isdigit())
    ):
        return None
    try:
        raw = bytes.fromhex(object_id.replace("-", ""))
    except ValueError:
        return None
    return raw if len(raw) == 16 else None  # fromhex passes over whitespace, and takes no other dash


def unpacked(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


Key = bytes | str  # a directory id as a dictionary key: its 16 bytes (49 bytes a key) when it is a GUID


def key_of(object_id: str) -> Key:
    """The id as ``Key``: its packed bytes, or the string itself for an id that is not a GUID."""
    return packed(object_id) or object_id


def id_of(key: Key) -> str:
    return unpacked(key) if isinstance(key, bytes) else key


class Ids:
    """Directory ids, each GUID in 16 bytes of one buffer, anything else as itself. An id added twice is held
    twice (a user on the pages of two synced groups): iterating gives each as often as it was added."""

    __slots__ = ("_guids", "_others")

    def __init__(self, ids: Iterable[str] = ()):
        self._guids = bytearray()
        self._others: list[str] = []
        self.update(ids)

    def add(self, object_id: str) -> None:
        raw = packed(object_id)
        if raw is None:
            self._others.append(object_id)
        else:
            self._guids += raw

    def update(self, ids: Iterable[str]) -> None:
        for object_id in ids:
            self.add(object_id)

    def __bool__(self) -> bool:
        return bool(self._guids or self._others)

    def __iter__(self) -> Iterator[str]:
        view = memoryview(self._guids)
        for start in range(0, len(view), 16):
            yield unpacked(view[start : start + 16])
        yield from self._others
