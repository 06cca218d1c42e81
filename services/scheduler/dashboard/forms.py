"""What the dashboard's forms stand for in the API's terms: the whole sync configuration, a team's admins.

Values are passed on as typed when they cannot be read (a guard of "ten"), so that the API's 422 names the
field.
"""

from __future__ import annotations

import json
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


def _mappings(text: str) -> Any:
    try:
        return json.loads(text) if text else []
    except ValueError:
        return text  # the API says it is not a list


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
    config["custom_mappings"] = _mappings(str(form.get("custom_mappings", "")))
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
