"""The claim pages as HTML, from Jinja2 templates (autoescaped): no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from shared.text import PRODUCT, templates

_env = templates("services.scheduler.claim")


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
