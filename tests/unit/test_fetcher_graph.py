"""The group graph: who belongs to which synced group, and who entered or left it after a delta round."""

from services.fetcher.graph_model import (
    GroupChanges,
    UserChanges,
    affected_groups,
    apply_nesting,
    diff,
    synced_ancestors,
)
from services.fetcher.ids import id_of, key_of
from services.fetcher.tree import Tree

# top > mid > low; side is synced alone; a cycle low > top must not loop.
NESTING = {"top": {"mid"}, "mid": {"low"}, "low": {"top"}, "side": set()}


def test_synced_groups_reach_through_nesting_and_cycles():
    ancestors = synced_ancestors(NESTING, ["mid", "side"])
    assert ancestors == {
        "mid": {"mid"},
        "low": {"mid"},
        "top": {"mid"},
        "side": {"side"},
    }


def test_routes_list_each_users_synced_groups_in_configuration_order():
    tree = Tree({"top": {"mid"}, "mid": set(), "side": set()}, {"top": ["a"], "mid": ["b"], "side": ["b"]})
    assert tree.routes(["side", "top"]) == {"a": ("top",), "b": ("side", "top")}


def test_a_guid_is_held_in_16_bytes_and_written_back_as_graph_wrote_it():
    left, stays, joins = (f"{n}b6d7c4e-3f1a-4c2b-9d8e-7a6b5c4d3e2f" for n in range(3))
    tree = Tree({"top": set()}, {"top": [key_of(left), key_of(stays), key_of("Not-A-GUID")]})
    tree.apply(GroupChanges(users={("top", left): False, ("top", joins): True, ("top", stays): True}))
    routes = tree.routes(["top"])
    assert {id_of(k) for k in routes} == {stays, joins, "Not-A-GUID"}
    assert {k for k in routes if isinstance(k, bytes)} == {key_of(stays), key_of(joins)}
    assert all(len(k) == 16 for k in routes if isinstance(k, bytes))
    # Graph writes GUIDs in lower case: any other spelling is kept as it is, and so read back.
    assert key_of(stays.upper()) == stays.upper() and id_of(key_of(joins)) == joins


def test_joins_and_leaves_follow_the_nesting():
    before = {"top": {"mid"}, "mid": set(), "side": set()}
    groups = GroupChanges(
        users={("mid", "new"): True, ("top", "a"): False, ("side", "a"): True},
        nested={("top", "side"): True},
    )
    after = apply_nesting(before, groups)
    assert after == {"top": {"mid", "side"}, "mid": set(), "side": set()}
    assert affected_groups(before, after, groups) == {"side"}
    direct = {"a": {"top"}, "s": {"side"}}
    out = diff(["top", "mid", "side"], before, after, direct, groups, UserChanges())
    assert out.joined == {"top": ["new", "s"], "mid": ["new"], "side": ["a"]}
    assert out.left == {}  # a left top directly, but is back in it through side
    assert sorted(out.edges) == [("a", "side", True), ("a", "top", False), ("new", "mid", True)]


def test_a_nested_group_taken_out_takes_its_users_with_it():
    before = {"top": {"mid"}, "mid": set()}
    groups = GroupChanges(nested={("top", "mid"): False})
    after = apply_nesting(before, groups)
    out = diff(["top"], before, after, {"b": {"mid"}, "a": {"top"}}, groups, UserChanges())
    assert out.left == {"top": ["b"]} and out.joined == {} and out.edges == []


def test_deleted_changed_and_outside_users():
    nesting = {"top": {"mid"}, "mid": set()}
    users = UserChanges(
        changed={"edit": None, "outsider": None, "joiner": None}, deleted={"gone": None, "far": None}
    )
    groups = GroupChanges(users={("mid", "joiner"): True})
    direct = {"edit": {"mid"}, "gone": {"top", "mid"}}
    out = diff(["top"], nesting, nesting, direct, groups, users)
    assert out.gone == ["gone"]  # "far" was in no synced group
    # Sent whole, each on the page of every synced group it is in; the outsider is ignored.
    assert out.member_of == {"edit": ["top"], "joiner": ["top"]}
    assert out.joined == {"top": ["joiner"]} and out.left == {}
    assert sorted(out.edges) == [("gone", "mid", False), ("gone", "top", False), ("joiner", "mid", True)]


def test_a_deleted_nested_group_drops_its_edges():
    before = {"top": {"mid"}, "mid": set()}
    groups = GroupChanges(deleted={"mid"})
    after = apply_nesting(before, groups)
    assert after == {"top": set()} and affected_groups(before, after, groups) == {"mid"}
    out = diff(["top"], before, after, {"b": {"mid", "top"}, "c": {"mid"}}, groups, UserChanges())
    assert out.left == {"top": ["c"]} and sorted(out.edges) == [("b", "mid", False), ("c", "mid", False)]
