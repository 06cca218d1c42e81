"""Text people read, in emails and on pages: the product's name, and outside values made safe for one line."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

PRODUCT = "CardSync"


def one_line(value: object, limit: int = 200) -> str:
    """Printable characters only, whitespace runs (CR and LF among them) collapsed, at most ``limit`` long."""
    text = str(value or "")
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def templates(package: str, folder: str = "templates") -> Environment:
    """The Jinja environment of a package's templates: HTML escaped, undefined names an error,
    ``one_line``."""
    env = Environment(
        loader=PackageLoader(package, folder),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # the templates ship with the code: no stat() of the file on every render
    )
    env.filters["one_line"] = one_line
    return env
