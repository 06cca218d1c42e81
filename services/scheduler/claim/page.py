"""The claim pages as HTML, from Jinja2 templates (autoescaped): no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shared.text import PRODUCT, one_line

_env = Environment(
    loader=PackageLoader("services.scheduler.claim", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,  # the templates ship with the code: no stat() of the file on every page
)
_env.filters["one_line"] = one_line


@dataclass(frozen=True)
class Card:
    name: str
    job_title: str = ""
    company: str = ""
    email: str = ""
    phone: str = ""


def render_page(**context: object) -> str:
    """The claim page: the card to claim, or why the link cannot be used."""
    return _env.get_template("claim.html.j2").render(context, product=PRODUCT)
