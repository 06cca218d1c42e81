"""Tiny, valid profile pictures: solid-colour PNGs and baseline JPEGs made without an imaging library."""

from __future__ import annotations

import struct
import zlib


def png(rgb: tuple[int, int, int], size: int = 48) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def _category(value: int) -> int:
    return abs(value).bit_length()


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, length: int) -> None:
        self.bits.extend((value >> (length - 1 - i)) & 1 for i in range(length))

    def to_bytes(self) -> bytes:
        bits = self.bits + [1] * (-len(self.bits) % 8)
        raw = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
        return raw.replace(b"\xff", b"\xff\x00")


def jpeg(rgb: tuple[int, int, int], size: int = 48) -> bytes:
    """A baseline YCbCr JPEG of one colour: every block is DC only, so two tiny Huffman tables suffice."""
    r, g, b = rgb
    levels = (
        0.299 * r + 0.587 * g + 0.114 * b,
        128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
        128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
    )
    dcs = [round(8 * (level - 128)) for level in levels]
    symbols = sorted({0, *(_category(dc) for dc in dcs)})
    length = len(symbols).bit_length()  # long enough that no code is all ones
    codes = {symbol: index for index, symbol in enumerate(symbols)}
    bits = _Bits()
    for block in range((size // 8) ** 2):
        for dc in dcs:
            diff = dc if block == 0 else 0
            cat = _category(diff)
            bits.put(codes[cat], length)
            if cat:
                bits.put(diff if diff > 0 else diff + (1 << cat) - 1, cat)
            bits.put(0, 1)  # end of block
    counts = [0] * 16
    counts[length - 1] = len(symbols)
    dc_table = bytes([0x00, *counts, *symbols])
    ac_table = bytes([0x10, 1, *([0] * 15), 0x00])
    components = b"".join(bytes([cid, 0x11, 0]) for cid in (1, 2, 3))
    return b"".join(
        [
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, b"\x00" + b"\x01" * 64),
            _segment(0xC0, struct.pack(">BHHB", 8, size, size, 3) + components),
            _segment(0xC4, dc_table + ac_table),
            _segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"),
            bits.to_bytes(),
            b"\xff\xd9",
        ]
    )


def dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG; (0, 0) for anything else."""
    if data.startswith(b"\x89PNG"):
        return struct.unpack(">II", data[16:24])
    pos = 2
    while data.startswith(b"\xff\xd8") and pos + 9 < len(data):
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return 0, 0
