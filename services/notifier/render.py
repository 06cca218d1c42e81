"""Emails from Jinja2 templates: no I/O, the same input always gives the same text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared import failures
from shared.text import PRODUCT, one_line, templates

LIST_LIMIT = 50
COUNT_KEYS = ("created", "invited", "updated", "unchanged", "removed", "deleted", "skipped")

_env = templates("services.notifier")


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Card:
    name: str
    job_title: str = ""
    company: str = ""
    email: str = ""
    phone: str = ""


def _both(name: str, subject: str, **context: object) -> Rendered:
    context["subject"] = subject
    return Rendered(
        subject=one_line(subject, 250),
        text=_env.get_template(f"{name}.txt.j2").render(context),
        html=_env.get_template(f"{name}.html.j2").render(context),
    )


def render_invite(team: str, card: Card, claim_url: str, expires_at: datetime) -> Rendered:
    subject = f"You're invited to join {one_line(team, 100)} on {PRODUCT}"
    return _both(
        "invite", subject, team=team, card=card, claim_url=claim_url, expires=expires_at, product=PRODUCT
    )


def people(raw: object) -> list[Person]:
    """The people of one list of a run summary, read defensively: anything that is not a person is skipped."""
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        return []
    found = []
    for item in raw:
        if isinstance(item, Mapping):
            name, address = one_line(item.get("name")), one_line(item.get("email"))
            if name or address:
                found.append(Person(name, address))
    return found


def _count(value: object) -> int:
    """A stored count, read defensively: anything but a whole number is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def counts_of(raw: object) -> list[tuple[str, int]]:
    source = raw if isinstance(raw, Mapping) else {}
    return [(key, _count(source.get(key))) for key in COUNT_KEYS]


def _persons(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def digest_subject(kind: str, team: str, added: int, removed: int, held: int, held_added: int = 0) -> str:
    team = one_line(team, 100)
    if kind == "held":
        parts = [f"{held} removal{'s' if held != 1 else ''}"] if held else []
        parts += [f"{held_added} new member{'s' if held_added != 1 else ''}"] if held_added else []
        what = " and ".join(parts) or "changes"
        verb = "is" if what.startswith("1 ") and len(parts) == 1 else "are"
        return f"{team}: {what} {verb} waiting for your approval"
    if added and removed:
        return f"{_persons(added)} joined and {removed} left {team} on {PRODUCT}"
    if added:
        return f"{_persons(added)} joined {team} on {PRODUCT}"
    if removed:
        return f"{_persons(removed)} left {team} on {PRODUCT}"
    return f"{team} on {PRODUCT}: the sync changed no memberships"


def _shortened(items: list[Person], total: int, limit: int) -> dict[str, object]:
    shown = items[:limit]
    return {"shown": shown, "more": total - len(shown), "total": total}


def render_digest(
    kind: str, team: str, run_url: str, summary: object, counts: object, limit: int = LIST_LIMIT
) -> Rendered:
    """``summary``: lists of people (``added``, ``removed``, ``held``), each perhaps only the first of a
    longer list whose length ``totals`` gives."""
    source = summary if isinstance(summary, Mapping) else {}
    totals = source.get("totals")
    totals = totals if isinstance(totals, Mapping) else {}
    lists = {name: people(source.get(name)) for name in ("added", "removed", "held", "held_added")}
    sizes = {name: max(len(items), _count(totals.get(name))) for name, items in lists.items()}
    if kind == "approved":  # who joined in the held run was in its own email; now those it held
        lists["added"] = people(source.get("approved_added"))
        sizes["added"] = max(len(lists["added"]), _count(totals.get("approved_added")))
    subject = digest_subject(kind, team, *sizes.values())
    return _both(
        "digest",
        subject,
        kind=kind,
        team=team,
        run_url=run_url,
        counts=counts_of(counts),
        product=PRODUCT,
        **{name: _shortened(items, sizes[name], limit) for name, items in lists.items()},
    )


def render_credential_expiring(
    team: str,
    credential_type: str,
    expires_at: datetime,
    days: int,
    thumbprint: str | None,
    settings_url: str,
) -> Rendered:
    what = "client certificate" if credential_type == "certificate" else "client secret"
    subject = f"{one_line(team, 100)}: the directory's {what} expires in {days} days"
    return _both(
        "credential",
        subject,
        team=team,
        what=what,
        expires=expires_at.strftime("%Y-%m-%d %H:%M"),
        days=days,
        thumbprint=thumbprint,
        settings_url=settings_url,
        product=PRODUCT,
    )


def render_notice(
    kind: str,
    team: str,
    run_url: str,
    reason: str | None,
    cause: str | None,
    trigger: str,
    since: str,
    groups: Sequence[str] = (),
) -> Rendered:
    """A failure notice (what failed and what to do, from the run's cause: ``shared.failures``), or the word
    that the sync works again."""
    name = one_line(team, 100)
    if kind == "group_gone":
        return _both(
            "notice",
            f"{name}: a synced group no longer exists in the directory",
            kind=kind,
            team=team,
            run_url=run_url,
            product=PRODUCT,
            groups=[one_line(g, 200) for g in groups],
        )
    if kind == "fixed":
        return _both(
            "notice",
            f"{name}: the directory sync works again",
            kind=kind,
            team=team,
            run_url=run_url,
            product=PRODUCT,
        )
    advice = failures.advice(cause)
    return _both(
        "notice",
        f"{name}: the directory sync failed",
        kind=kind,
        team=team,
        run_url=run_url,
        product=PRODUCT,
        what=advice.what,
        todo=advice.todo,
        reason=reason or "",
        when=failures.when_retried(cause, 1, trigger),
        since=since,
    )
