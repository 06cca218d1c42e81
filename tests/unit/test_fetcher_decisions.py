"""Merging delta answers, routing the listed users to their pages, and deciding which photos to download:
pure functions."""

import random

import pytest

from services.fetcher.delta import groups_params, id_filter, scope_of
from services.fetcher.full import GroupPages
from services.fetcher.graph_model import (
    GroupChanges,
    NeedsFullRead,
    UserChanges,
    merge_group_item,
    merge_user_item,
)
from services.fetcher.photo_download import plan_photos
from services.fetcher.photo_etags import slice_size
from services.fetcher.tree import PAGE_SIZE
from shared.config import SyncConfig
from shared.graph.batch import BatchItem

USER = "#microsoft.graph.user"
REMOVED = {"@removed": {"reason": "deleted"}}


GROUP = "#microsoft.graph.group"


def test_a_group_spanning_pages_merges_and_the_last_word_wins():
    changes = GroupChanges()
    merge_group_item(
        {
            "id": "g",
            "displayName": "G",
            "members@delta": [
                {"@odata.type": USER, "id": "a"},
                {"@odata.type": USER, "id": "b", **REMOVED},
                {"@odata.type": GROUP, "id": "h"},
            ],
        },
        {"g", "h"},
        {"g"},
        changes,
    )
    merge_group_item(
        {
            "id": "g",
            "members@delta": [
                {"@odata.type": USER, "id": "a", **REMOVED},
                {"@odata.type": USER, "id": "c"},
                {"@odata.type": "#microsoft.graph.device", "id": "d"},
            ],
        },
        {"g", "h"},
        {"g"},
        changes,
    )
    merge_group_item(
        {"id": "elsewhere", "members@delta": [{"@odata.type": USER, "id": "x"}]}, {"g"}, {"g"}, changes
    )
    assert changes.users == {("g", "a"): False, ("g", "b"): False, ("g", "c"): True}
    assert changes.nested == {("g", "h"): True}


def test_unknown_nested_groups_and_deleted_groups():
    with pytest.raises(NeedsFullRead):
        merge_group_item(
            {"id": "g", "members@delta": [{"@odata.type": GROUP, "id": "new"}]}, {"g"}, {"g"}, GroupChanges()
        )
    with pytest.raises(NeedsFullRead, match="synced group g was deleted"):  # a full read finds out
        merge_group_item({"id": "g", "@removed": {"reason": "changed"}}, {"g"}, {"g"}, GroupChanges())
    changes = GroupChanges()
    merge_group_item({"id": "h", "@removed": {"reason": "deleted"}}, {"g", "h"}, {"g"}, changes)
    merge_group_item(
        {"id": "g", "members@delta": [{"@odata.type": GROUP, "id": "gone", **REMOVED}]}, {"g"}, {"g"}, changes
    )
    assert changes.deleted == {"h"} and not changes.nested


def test_users_changed_then_deleted_count_as_deleted():
    changes = UserChanges()
    merge_user_item({"id": "u", "jobTitle": "x"}, changes)
    merge_user_item({"id": "v"}, changes)
    merge_user_item({"id": "u", "@removed": {"reason": "changed"}}, changes)
    assert list(changes.changed) == ["v"] and list(changes.deleted) == ["u"]


def test_group_delta_is_filtered_on_up_to_fifty_ids_quoted():
    assert groups_params({str(i) for i in range(50)})["$filter"].count(" or ") == 49
    assert "$filter" not in groups_params({str(i) for i in range(51)}) and "$filter" not in groups_params(
        None
    )
    assert id_filter(["a", "o'b"]) == "id eq 'a' or id eq 'o''b'"


def test_photos_are_downloaded_only_when_new_or_changed():
    answers = {
        "0": BatchItem("0", 200, {}, {"@odata.mediaEtag": "e1"}),
        "1": BatchItem("1", 200, {}, {"@odata.mediaEtag": "e2"}),
        "2": BatchItem("2", 404, {}, {"error": {"code": "ImageNotFound"}}),
        "3": BatchItem("3", 404, {}, None),
        "4": BatchItem("4", 200, {}, {"@odata.mediaEtag": "e5"}),
        "5": BatchItem("5", 403, {}, None),
    }
    known = {"same": "e1", "changed": "old", "lost": "e3", "never": None}
    plan = plan_photos(["same", "changed", "lost", "never", "new", "denied"], known, answers)
    assert plan.download == {"changed": "e2", "new": "e5"}
    assert plan.removed == ["lost"]
    assert plan.seen == {"same": "e1", "lost": None, "never": None}
    assert {u: a.status for u, a in plan.failed.items()} == {"denied": 403}


def test_every_photo_is_rechecked_within_the_slice_days():
    assert slice_size(0, 7) == 0 and slice_size(100, 7) == 14 and slice_size(5, 0) == 5  # a day's share
    # However often runs come, a day's runs check a day's share: a run every 15 minutes checks 1/96 of it.
    assert slice_size(100_000, 7, 900) == 148 and slice_size(100, 7, 900) == 0
    assert slice_size(100, 7, 30 * 86400) == 100  # a long pause checks everyone once, not more


def test_delta_state_is_good_only_for_the_tenant_and_app_it_was_read_with():
    config = SyncConfig.model_validate({"groups": [{"id": "g1"}]})
    first = {"tenant_id": "t1", "client_id": "c1", "secret_encrypted": "a"}
    assert scope_of(config, first) == scope_of(config, {**first, "secret_encrypted": "rotated"})
    assert scope_of(config, first) != scope_of(config, {**first, "tenant_id": "t2"})
    assert scope_of(config, first) != scope_of(config, {**first, "client_id": "c2"})


def test_the_listing_holds_at_most_its_limit_and_sends_every_user_once_per_group():
    """Zipf-like groups, a user in one to three of them: pages never exceed PAGE_SIZE, no more than the
    limit is held between pages, and each group gets its users once, in the order of the list."""
    rng = random.Random(5)
    group_ids = [f"g{n}" for n in range(60)]
    weights = [1 / (n + 1) for n in range(len(group_ids))]
    pages, sent = GroupPages(group_ids, limit=3_000), {g: [] for g in group_ids}
    expected: dict[str, list[int]] = {g: [] for g in group_ids}
    held = 0
    for user in range(40_000):
        groups = sorted(set(rng.choices(group_ids, weights, k=rng.randint(1, 3))))
        for g in groups:
            expected[g].append(user)
        held += len(groups)
        for group_id, page in pages.add(user, groups):
            assert 0 < len(page) <= PAGE_SIZE
            sent[group_id] += page
            held -= len(page)
        assert held == pages.held <= 3_000
    last = pages.rest()
    assert [g for g, _ in last] == group_ids and pages.held == 0
    for group_id, page in last:
        sent[group_id] += page
    assert sent == expected
    full = sum(n // PAGE_SIZE for n in map(len, expected.values()))
    assert full >= 20  # the big groups still go out in full pages
