"""What the dashboard's forms stand for in the API's terms, and how a dry-run plan reads."""

from __future__ import annotations

import typing

from multidict import MultiDict

from services.scheduler.api.models.config import ConfigIn
from services.scheduler.dashboard.forms import (
    cadences,
    config_from_form,
    mapping_errors,
    mapping_rows,
    mappings_from_rows,
    parse_admins,
    rows_from_mappings,
)
from services.scheduler.dashboard.plan_view import plan_rows, search_rows
from shared.config import Cadence

SAVED = {
    "groups": [],
    "cadence": "daily",
    "fields": {},
    "custom_mappings": [{"source": "department", "target": {"kind": "field", "name": "Department"}}],
    "delete_on_removal": True,
    "send_invites": True,
    "use_admin_roles": False,
    "remove_disabled_users": True,
    "removal_guard": {"max_percent": 20, "min_count": 10},
    "next_run_at": "2026-11-29T03:17:00Z",
}


def test_the_settings_form_is_the_whole_configuration():
    form = MultiDict(
        [
            ("group", "g1|Sales"),
            ("group", "g2|R|D"),
            ("group", "g1|Sales"),
            ("cadence", "weekly"),
            ("fields.name.sync", "on"),
            ("fields.name.overwrite", "on"),
            ("fields.job_title.sync", "on"),
            ("send_invites", "on"),
            ("removal_guard.max_percent", "12.5"),
            ("removal_guard.min_count", "3"),
            ("mappings_rows", "3"),
            ("m0.source", "city"),
            ("m0.fallbacks", "state, , country"),
            ("m0.name", "City"),
            ("m0.sync", "on"),
            ("m1.source", ""),
            ("m2.source", "employeeId"),
            ("m2.kind", "link"),
            ("m2.type", "text"),
            ("m2.name", "Badge"),
            ("m2.overwrite", "on"),
        ]
    )
    config = config_from_form(form, SAVED)
    assert config["groups"] == [{"id": "g1", "display_name": "Sales"}, {"id": "g2", "display_name": "R|D"}]
    assert config["cadence"] == "weekly"
    assert config["fields"]["name"] == {"sync": True, "overwrite": True}
    assert config["fields"]["job_title"] == {"sync": True, "overwrite": False}
    assert config["fields"]["photo"] == {"sync": False, "overwrite": False}
    assert (config["send_invites"], config["delete_on_removal"]) == (True, False)  # an unticked box is off
    assert config["removal_guard"] == {"max_percent": 12.5, "min_count": 3}
    assert config["custom_mappings"] == [
        {
            "source": "city",
            "fallbacks": ["state", "country"],
            "target": {"kind": "field", "name": "City"},
            "sync": True,
            "overwrite": False,
        },
        {
            "source": "employeeId",
            "fallbacks": [],
            "target": {"kind": "link", "type": "text", "label": "Badge"},
            "sync": False,
            "overwrite": True,
        },
    ]
    assert "next_run_at" not in config
    assert config_from_form(MultiDict(), SAVED)["custom_mappings"] == SAVED["custom_mappings"]  # no rows


def test_mapping_errors_land_beside_the_row_they_came_from():
    rows = mapping_rows(
        MultiDict([("mappings_rows", "3"), ("m0.source", "city"), ("m2.source", "x"), ("m2.kind", "link")])
    )
    mappings, origin = mappings_from_rows(rows)
    assert [m["source"] for m in mappings] == ["city", "x"] and origin == [0, 2]
    errors = {
        "custom_mappings.1.source": "unknown directory property 'x'",
        "custom_mappings.1.target.link.label": "too short",
        "custom_mappings.1.fallbacks.0": "bad",
        "custom_mappings": "custom mapping 1 writes the target of custom mapping 0 again",
        "cadence": "not a cadence",
    }
    by_row, general = mapping_errors(errors, origin)
    assert by_row == {
        2: {"source": "unknown directory property 'x'", "name": "too short", "fallbacks": "bad"}
    }
    assert general == "custom mapping 1 writes the target of custom mapping 0 again"
    assert rows_from_mappings(mappings)[-1]["source"] == "" and len(rows_from_mappings(mappings)) == 3


def test_unreadable_values_go_to_the_api_as_typed_so_it_names_the_field():
    config = config_from_form(MultiDict([("removal_guard.max_percent", "ten")]), SAVED)
    assert config["removal_guard"] == {"max_percent": "ten", "min_count": ""}


def test_the_cadences_offered_are_the_apis():
    assert cadences(ConfigIn) == list(typing.get_args(Cadence))
    assert {"off", "daily", "weekly", "monthly", "quarterly"} <= set(cadences(ConfigIn))


def test_admins_are_one_a_line():
    text = "Ada Admin <ada@contoso.com>\n\n  bob@contoso.com \n<c@contoso.com>"
    assert parse_admins(text) == [
        {"email": "ada@contoso.com", "name": "Ada Admin"},
        {"email": "bob@contoso.com", "name": ""},
        {"email": "c@contoso.com", "name": ""},
    ]


PLAN = {
    "create": [{"name": "Ann Lee", "email": "ann@contoso.com", "subteams": ["g1"]}],
    "update": [
        {
            "member_id": "m1",
            "name": None,
            "changes": {"job_title": {"old": "Rep", "new": "VP"}},
            "subteams": {"join": [], "leave": ["g2"]},
        }
    ],
    "remove": [{"name": "Bo", "email": None, "delete": False, "held": True}],
    "invite": [{"name": "Ann Lee", "email": "ann@contoso.com"}],
    "roles": [{"name": "Cy", "email": "cy@contoso.com", "scope": "team", "role": "admin"}],
}


def test_a_plan_reads_as_rows_of_what_happens_to_whom():
    rows = plan_rows(PLAN)
    assert [(r["title"], r["who"], r["details"]) for r in rows] == [
        ("Joins", "Ann Lee <ann@contoso.com>", ""),
        ("Changes", "m1", "job title: Rep → VP; leaves group g2"),
        ("Leaves", "Bo", "deactivated (held by the guard)"),
        ("Invited", "Ann Lee <ann@contoso.com>", ""),
        ("Roles", "Cy <cy@contoso.com>", "admin of the team"),
    ]


def test_a_plan_is_searched_by_person_or_change_and_kind():
    rows = plan_rows(PLAN)
    assert [r["kind"] for r in search_rows(rows, "ANN", "")] == ["create", "invite"]
    assert [r["kind"] for r in search_rows(rows, "ann", "invite")] == ["invite"]
    assert [r["kind"] for r in search_rows(rows, "vp", "")] == ["update"]
    assert len(search_rows(rows, "", "")) == 5


def test_a_time_of_day_and_its_zone_come_from_the_form_and_empty_is_none():
    form = MultiDict([("cadence", "daily"), ("at", "06:30"), ("timezone", " Europe/Berlin ")])
    config = config_from_form(form, SAVED)
    assert (config["at"], config["timezone"]) == ("06:30", "Europe/Berlin")
    config = config_from_form(MultiDict([("cadence", "hourly"), ("at", ""), ("timezone", "")]), SAVED)
    assert (config["at"], config["timezone"]) == (None, "UTC")
    kept = config_from_form(MultiDict([("cadence", "weekly")]), SAVED)  # a form without the fields keeps them
    assert "at" not in kept
