"""What the dashboard's forms stand for in the API's terms: the whole sync configuration, a team's admins.

Values are passed on as typed when they cannot be read (a guard of "ten"), so that the API's 422 names the
field.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

from multidict import MultiMapping

CARD_FIELDS = ("name", "email", "job_title", "company", "phone", "location", "photo")
SWITCHES = ("send_invites", "delete_on_removal", "use_admin_roles", "remove_disabled_users", "realtime")
# Where each card field comes from in the directory, as the settings page shows it.
FIELD_SOURCES = {
    "name": ("Name", "Display name"),
    "email": ("Email", "Email (fallback: user principal name)"),
    "job_title": ("Job title", "Job title"),
    "company": ("Company", "Company name"),
    "phone": ("Phone number", "Mobile phone (fallback: business phone)"),
    "location": ("Location", "Street address, city, state, postal code, country"),
    "photo": ("Profile picture", "Profile photo"),
}


def cadences(config_model: type) -> list[str]:
    """The cadences the API takes, read from its own model so the page offers no other."""
    return list(typing.get_args(config_model.model_fields["cadence"].annotation))


def _number(text: str) -> int | float | str:
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _groups(form: MultiMapping[str]) -> list[dict[str, str]]:
    """Each ``group`` value is ``id|display name``; a group picked twice counts once."""
    seen: dict[str, dict[str, str]] = {}
    for value in form.getall("group", []):
        group_id, _, name = str(value).partition("|")
        if group_id and group_id not in seen:
            seen[group_id] = {"id": group_id, "display_name": name}
    return list(seen.values())


MAX_MAPPINGS = 100  # as many as a configuration may have
MAPPING_FIELDS = ("source", "fallbacks", "kind", "name", "type")


def mapping_rows(form: MultiMapping[str]) -> list[dict[str, Any]]:
    """The custom mapping rows of the settings form as typed: ``m{i}.source``, ``.fallbacks`` (comma
    separated), ``.kind`` (field or link), ``.name`` (the field's name or the link's label), ``.type`` (the
    link's type), ``.sync`` and ``.overwrite``; ``mappings_rows`` says how many rows the form has."""
    count = str(form.get("mappings_rows", ""))
    rows = []
    for i in range(min(int(count), MAX_MAPPINGS + 1) if count.isdigit() else 0):
        # As typed, spaces included: the rows are drawn again while the admin types.
        row: dict[str, Any] = {f: str(form.get(f"m{i}.{f}", "")) for f in MAPPING_FIELDS}
        row["sync"] = f"m{i}.sync" in form
        row["overwrite"] = f"m{i}.overwrite" in form
        rows.append(row)
    return rows


def _blank(row: Mapping[str, Any]) -> bool:
    return not (row["source"].strip() or row["fallbacks"].strip() or row["name"].strip())


def mappings_from_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """The custom mappings the API takes (R6), and for each the row it came from; blank rows are none."""
    mappings, origin = [], []
    for i, row in enumerate(rows):
        if _blank(row):
            continue
        kind, name = row["kind"].strip(), row["name"].strip()
        target: dict[str, Any] = (
            {"kind": "link", "type": row["type"].strip() or "url", "label": name}
            if kind == "link"
            else {"kind": kind or "field", "name": name}
        )
        fallbacks = [f.strip() for f in row["fallbacks"].split(",") if f.strip()]
        mappings.append(
            {
                "source": row["source"].strip(),
                "fallbacks": fallbacks,
                "target": target,
                "sync": row["sync"],
                "overwrite": row["overwrite"],
            }
        )
        origin.append(i)
    return mappings, origin


def rows_from_mappings(mappings: Any) -> list[dict[str, Any]]:
    """The rows that show saved custom mappings, and one blank row to add another."""
    rows = []
    for m in mappings if isinstance(mappings, list) else []:
        target = m.get("target") or {}
        rows.append(
            {
                "source": m.get("source", ""),
                "fallbacks": ", ".join(m.get("fallbacks") or []),
                "kind": target.get("kind", "field"),
                "name": target.get("name") or target.get("label") or "",
                "type": target.get("type", "url"),
                "sync": m.get("sync", True),
                "overwrite": m.get("overwrite", True),
            }
        )
    return with_blank_row(rows)


def with_blank_row(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if (not rows or not _blank(rows[-1])) and len(rows) < MAX_MAPPINGS:
        blank = {f: "" for f in MAPPING_FIELDS}
        rows = [*rows, {**blank, "kind": "field", "type": "url", "sync": True, "overwrite": True}]
    return rows


# Where a 422 of the API puts a mapping's error (its loc after ``custom_mappings.<n>.``), as a row's field.
_ERROR_FIELDS = {
    "source": "source",
    "fallbacks": "fallbacks",
    "target": "kind",
    "target.field.name": "name",
    "target.link.label": "name",
    "target.link.type": "type",
    "target.field.kind": "kind",
    "target.link.kind": "kind",
}


def mapping_errors(errors: Mapping[str, str], origin: list[int]) -> tuple[dict[int, dict[str, str]], str]:
    """The API's errors of ``custom_mappings`` by row and field (``{row: {"source": "…"}}``), and those that
    belong to no one field (a target written twice), joined."""
    by_row: dict[int, dict[str, str]] = {}
    general = []
    for key, msg in errors.items():
        parts = key.split(".")
        if parts[0] != "custom_mappings":
            continue
        if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(origin):
            rest = ".".join(parts[2:])
            found = _ERROR_FIELDS.get(rest) or _ERROR_FIELDS.get(rest.split(".")[0], "source")
            row = by_row.setdefault(origin[int(parts[1])], {})
            row[found] = f"{row[found]}; {msg}" if found in row else msg
        else:
            general.append(msg)
    return by_row, "; ".join(general)


def config_from_form(form: MultiMapping[str], saved: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration to PUT; what the form has no field for is kept as saved."""
    config = {k: v for k, v in saved.items() if k != "next_run_at"}
    config["groups"] = _groups(form)
    config["cadence"] = str(form.get("cadence", saved.get("cadence", "")))
    if "at" in form:  # a time of day and its zone, for daily and longer cadences (R14)
        at = str(form.get("at", "")).strip()
        config["at"] = at or None
        config["timezone"] = str(form.get("timezone", "")).strip() or "UTC"
    config["fields"] = {
        f: {"sync": f"fields.{f}.sync" in form, "overwrite": f"fields.{f}.overwrite" in form}
        for f in CARD_FIELDS
    }
    if "mappings_rows" in form:
        config["custom_mappings"] = mappings_from_rows(mapping_rows(form))[0]
    for switch in SWITCHES:
        config[switch] = switch in form
    config["removal_guard"] = {
        "max_percent": _number(str(form.get("removal_guard.max_percent", ""))),
        "min_count": _number(str(form.get("removal_guard.min_count", ""))),
    }
    return config


_NAMED = re.compile(r"^\s*(?P<name>[^<]*?)\s*<(?P<email>[^>]+)>\s*$")


def parse_admins(text: str) -> list[dict[str, str]]:
    """One admin a line, ``Name <email>`` or a bare email; the API checks each address."""
    admins = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if match := _NAMED.match(line):
            admins.append({"email": match["email"].strip(), "name": match["name"]})
        else:
            admins.append({"email": line.strip(), "name": ""})
    return admins
