"""Text people read, in emails and on pages: the product's name, and outside values made safe for one line."""

from __future__ import annotations

PRODUCT = "CardSync"


def one_line(value: object, limit: int = 200) -> str:
    """Printable characters only, whitespace runs (CR and LF among them) collapsed, at most ``limit`` long."""
    text = str(value or "")
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
