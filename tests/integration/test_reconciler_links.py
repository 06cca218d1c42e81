"""Card links from the directory (R6): a value that may not be a card link (javascript:, data:, ...) is left
out with an error on the run, and the rest of the card syncs."""

from __future__ import annotations

from tests.fixtures.reconciler import GROUP, user

CONFIG = {
    "groups": [{"id": GROUP, "display_name": "Sales"}],
    "custom_mappings": [
        {"source": "department", "target": {"kind": "link", "type": "url", "label": "Calendar"}},
        {"source": "officeLocation", "target": {"kind": "link", "type": "text", "label": "Desk"}},
    ],
}
ONE, TWO = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def users(calendar: str) -> list:
    return [
        user(1, department=calendar, officeLocation="B12", jobTitle="Chief"),
        user(2, department="https://cal.contoso.example/2", officeLocation="www.contoso.example"),
    ]


async def test_a_link_value_with_another_scheme_is_left_out_and_reported_the_rest_syncs(team):
    run = await team.sync(users("javascript:alert(document.cookie)"), config=CONFIG)
    assert run["status"] == "succeeded" and run["counts"]["created"] == 2 and run["counts"]["skipped"] == 0
    [error] = run["member_errors"]
    assert error["directory_id"] == ONE
    assert error["message"].startswith(
        "the card link Calendar was not synced: the directory's value is a "
        "javascript: link, and a card link may only be an https:, http:, mailto:"
    )
    assert error["message"].endswith("; correct department in the directory")
    members = await team.members()
    assert await team.links(members[ONE]["id"]) == {
        "email": "mailto:user00001@contoso.com",
        "phone": "tel:+14255550001",
        "mapping:Desk": "B12",
    }
    assert members[ONE]["card_job_title"] == "Chief"
    # Text without a scheme stays what it was: plain text, or a link within the card's own site.
    assert (await team.links(members[TWO]["id"]))["mapping:Calendar"] == "https://cal.contoso.example/2"
    assert (await team.links(members[TWO]["id"]))["mapping:Desk"] == "www.contoso.example"


async def test_a_refused_value_keeps_the_link_the_card_had_and_is_reported_on_every_run(team):
    await team.sync(users("https://cal.contoso.example/1"), config=CONFIG)
    member = (await team.members())[ONE]["id"]
    for bad in ("data:text/html,<script>alert(1)</script>", "\x01java\tscript:alert(1)"):
        run = await team.sync(users(bad), config=CONFIG)
        assert [e["directory_id"] for e in run["member_errors"]] == [ONE]
        assert (run["counts"]["unchanged"], run["counts"]["updated"]) == (2, 0)
        assert (await team.links(member))["mapping:Calendar"] == "https://cal.contoso.example/1"


async def test_an_unsafe_link_synced_before_values_were_checked_goes(team):
    await team.sync(users("https://cal.contoso.example/1"), config=CONFIG)
    member = (await team.members())[ONE]["id"]
    await team.pool.execute(
        "UPDATE links SET value = 'vbscript:msgbox(1)' WHERE member_id = $1 AND source = 'mapping:Calendar'",
        member,
    )
    run = await team.sync(users("vbscript:msgbox(1)"), config=CONFIG)
    assert [e["directory_id"] for e in run["member_errors"]] == [ONE] and run["counts"]["updated"] == 1
    assert "mapping:Calendar" not in await team.links(member)
