"""A dry run's plan (R18) as rows a person reads, and finding rows in it. Pure: the plan in, rows out."""

from __future__ import annotations

from typing import Any

PLAN_LISTS = {
    "create": "Joins",
    "update": "Changes",
    "remove": "Leaves",
    "invite": "Invited",
    "roles": "Roles",
    "exclude": "Out of scope",
}


def plan_rows(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The dry-run plan as one list of rows a person reads: what happens, to whom, and the details."""
    rows = []
    for kind, title in PLAN_LISTS.items():
        for entry in plan.get(kind) or []:
            rows.append({"kind": kind, "title": title, "who": _who(entry), "details": _details(kind, entry)})
    return rows


def _who(entry: dict[str, Any]) -> str:
    name, email = entry.get("name"), entry.get("email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or entry.get("member_id") or entry.get("directory_id") or ""


def _details(kind: str, entry: dict[str, Any]) -> str:
    if kind == "update":
        parts = [
            f"{f.replace('_', ' ')}: {c.get('old') or '(empty)'} → {c.get('new') or '(empty)'}"
            for f, c in (entry.get("changes") or {}).items()
        ]
        subteams = entry.get("subteams") or {}
        parts += [f"joins group {g}" for g in subteams.get("join", [])]
        parts += [f"leaves group {g}" for g in subteams.get("leave", [])]
        return "; ".join(parts)
    if kind == "remove":
        return ("deleted" if entry.get("delete") else "deactivated") + (
            " (held by the guard)" if entry.get("held") else ""
        )
    if kind == "exclude":
        return f"left out by {entry.get('rule')}"
    if kind == "roles":
        return f"{entry.get('role')} of the {'team' if entry.get('scope') == 'team' else 'subteam'}"
    return ""


def search_rows(rows: list[dict[str, Any]], text: str, kind: str) -> list[dict[str, Any]]:
    needle = text.strip().lower()
    return [
        r
        for r in rows
        if (not kind or r["kind"] == kind)
        and (not needle or needle in r["who"].lower() or needle in r["details"].lower())
    ]
