"""The prose of the OpenAPI document: its introduction and a description per resource (tag)."""

from __future__ import annotations

from http import HTTPStatus

from services.scheduler.api.problem_types import KINDS, problem_type

_INTRODUCTION = """\
The control API of CardSync: it connects a team's Microsoft Entra ID tenant, configures which groups sync to
the team's cards and how, runs and inspects syncs, and reads the members they keep in step.

**Authentication.** `Authorization: Bearer <token>` with the operator token (everything) or a team token (its
own team only; another team's paths answer 404, as if the team did not exist). A person may instead sign in
with Microsoft at `/auth/login`: the `cardsync_session` cookie then acts for the teams the person administers,
and a request that changes anything carries the session's `csrf_token` in the `X-CSRF-Token` header.

**Errors** are RFC 9457 problem documents (`application/problem+json`) whose `type` names the kind of error
(listed at the end). The checks run in this order: authentication (401), the team (404), then the query and
the body (400 for what cannot be read, 413 past 1 MiB, 422 for invalid values, with `errors` naming each one).

**Versions.** The sync configuration answers an `ETag`; a save with `If-Match` is refused with 412 when
another save came first. **Pages.** Lists that page answer a `next_cursor`: pass it as `cursor` for the next
page. This document is `/api/v1/openapi.json`; `/api/docs` shows it as a page.
"""


def introduction() -> str:
    """The document's description, ending with every problem type: its URI, status and meaning."""
    types = "\n".join(
        f"- `{problem_type(status)}` ({status} {HTTPStatus(status).phrase}): {kind.meaning}"
        for status, kind in KINDS.items()
    )
    return (
        f"{_INTRODUCTION}\n**Problem types.** Relative to the API's host, so the same on every installation;"
        f" each opens a page saying what it means.\n\n{types}\n"
    )


TAGS = {
    "me": ("Session", "Who the API takes the caller to be."),
    "teams": ("Teams", "Teams, made by the operator with their first admins."),
    "accounts": ("Accounts", "Platform accounts outside any team."),
    "tokens": ("Tokens", "A team's bearer tokens: issued (shown once), listed, revoked."),
    "directory": (
        "Directory",
        (
            "The team's Entra tenant, by an app registration of its own or by admin consent to the "
            "platform's app"
            " (R1), and the group search that picks the synced groups (R2)."
        ),
    ),
    "config": (
        "Sync configuration",
        "Which groups sync, which fields and how, the cadence and the removal guard, versioned by an ETag.",
    ),
    "runs": ("Runs", "Sync Now, the run records (R17), and approving the removals of a held run (R10)."),
    "members": ("Members", "The team's members and their cards, as the syncs keep them."),
    "templates": ("Templates", "Templates: links that the members they are applied to carry (R13)."),
    "subteams": ("Subteams", "One subteam per synced group (R3)."),
    "invites": ("Invites", "Sending the invites that wait (R11)."),
    "audit": ("Audit log", "Who did what to the team, newest first; all of it as CSV with Accept: text/csv."),
    "webhooks": (
        "Webhooks",
        (
            "URLs the team's events are sent to (member.created, member.updated, member.removed,"
            " run.finished), signed as Standard Webhooks sign them, retried for 24 hours, at least once under"
            " a stable webhook-id; and each delivery's outcome."
        ),
    ),
}
