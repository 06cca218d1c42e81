"""What a run asks Graph for, and how member pages become messages."""

import asyncio

import pytest

from services.fetcher.pages import PageSink, split_members
from services.fetcher.user_properties import user_properties
from shared.config import SyncConfig
from shared.graph.errors import GraphForbidden
from shared.messages import DirectoryUser, SyncRequested


def config(**kw) -> SyncConfig:
    return SyncConfig.model_validate({"groups": [{"id": "g1"}], **kw})


def test_the_default_configuration_selects_the_card_fields():
    assert user_properties(config()) == [
        "id",
        "accountEnabled",
        "businessPhones",
        "city",
        "companyName",
        "country",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "postalCode",
        "state",
        "streetAddress",
        "surname",
        "userPrincipalName",
    ]


def test_fields_never_written_are_not_read_and_identity_always_is():
    props = user_properties(
        config(
            fields={
                "location": {"sync": False, "overwrite": False},
                "email": {"sync": False, "overwrite": False},
            },
            remove_disabled_users=False,
        )
    )
    assert "city" not in props and "accountEnabled" not in props
    assert {"mail", "userPrincipalName", "displayName"} <= set(props)


def test_custom_mapping_sources_are_selected_nested_ones_by_their_parent():
    props = user_properties(
        config(
            custom_mappings=[
                {
                    "source": "department",
                    "fallbacks": ["onPremisesExtensionAttributes.extensionAttribute3"],
                    "target": {"kind": "field", "name": "dept"},
                },
                {
                    "source": "extension_0123456789abcdef0123456789abcdef_costCentre",
                    "target": {"kind": "link", "type": "text", "label": "Cost centre"},
                },
                {
                    "source": "employeeId",
                    "target": {"kind": "field", "name": "eid"},
                    "sync": False,
                    "overwrite": False,
                },
            ]
        )
    )
    assert {
        "department",
        "onPremisesExtensionAttributes",
        "extension_0123456789abcdef0123456789abcdef_costCentre",
    } <= set(props)
    assert "employeeId" not in props


USER = "#microsoft.graph.user"


def test_only_users_become_members():
    content = split_members(
        [
            {"@odata.type": USER, "id": "u1", "userPrincipalName": "a@x", "mail": None, "extra": 1},
            {"@odata.type": "#microsoft.graph.device", "id": "d1"},
            {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "s1"},
            {"@odata.type": "#microsoft.graph.orgContact", "id": "c1"},
            {"@odata.type": "#microsoft.graph.group", "id": "g2"},
        ],
        ["id", "mail", "userPrincipalName"],
    )
    assert [(u.id, u.properties) for u in content.users] == [
        ("u1", {"mail": None, "userPrincipalName": "a@x"})
    ]


def test_users_without_properties_mean_a_missing_permission():
    with pytest.raises(GraphForbidden, match="User.Read.All"):
        split_members([{"@odata.type": USER, "id": "u1"}], ["id", "userPrincipalName"])
    mixed = split_members(
        [{"@odata.type": USER, "id": "u1"}, {"@odata.type": USER, "id": "u2", "userPrincipalName": "b@x"}],
        ["id", "userPrincipalName"],
    )
    assert [u.id for u in mixed.users] == ["u2"] and mixed.skipped[0]["id"] == "u1"


async def test_pages_are_numbered_in_the_order_sent_and_empty_ones_are_not_sent():
    sent = []

    async def publish(message):
        sent.append(message)

    sink = PageSink(SyncRequested(team_id="t", run_id="r"), publish)
    content = split_members([{"@odata.type": USER, "id": "u1", "userPrincipalName": "a@x"}], ["id"])
    await sink.send("g1", content.users)
    await sink.send("g1", [])
    await sink.send(None, [], removed_ids=["u9"])
    await sink.flush()
    assert [(m.seq, m.group_id, m.removed_ids) for m in sent] == [(0, "g1", []), (1, None, ["u9"])]
    assert sink.pages == 2


async def test_pages_go_out_without_waiting_for_each_confirm_but_a_few_at_most():
    confirms: list[asyncio.Future[None]] = []

    async def publish(message):
        confirms.append(asyncio.get_running_loop().create_future())
        await confirms[-1]

    sink = PageSink(SyncRequested(team_id="t", run_id="r"), publish, window=2)
    users = [DirectoryUser(id="u1", properties={})]
    await sink.send("g1", users)
    await sink.send("g1", users)
    third = asyncio.ensure_future(sink.send("g1", users))
    await asyncio.sleep(0)
    assert len(confirms) == 2 and not third.done()  # two unconfirmed pages: the third waits for room
    confirms[0].set_result(None)
    await third
    flushed = asyncio.ensure_future(sink.flush())
    await asyncio.sleep(0)
    assert len(confirms) == 3 and not flushed.done()
    for confirm in confirms[1:]:
        confirm.set_result(None)
    await flushed


async def test_a_page_the_broker_refused_fails_the_fetch():
    async def publish(message):
        if message.seq == 1:
            raise ConnectionError("the broker went away")

    sink = PageSink(SyncRequested(team_id="t", run_id="r"), publish)
    users = [DirectoryUser(id="u1", properties={})]
    for _ in range(3):
        await sink.send("g1", users)
    with pytest.raises(ConnectionError, match="went away"):
        await sink.flush()
    with pytest.raises(ConnectionError):
        await sink.send("g1", users)
