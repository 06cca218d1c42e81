"""Read endpoints for users, groups, members, directory roles and photos."""

from __future__ import annotations

import base64
from typing import Any

from simulator import properties as props
from simulator.errors import GraphError, bad_request, not_found
from simulator.images import dimensions
from simulator.listing import page
from simulator.odata import parse_filter, parse_search
from simulator.request import GraphRequest, GraphResponse
from simulator.user_filter import advanced_query, parse_user_filter

USERS = ("User.Read.All",)
GROUPS = ("GroupMember.Read.All", "Group.Read.All")
ROLES = ("RoleManagement.Read.Directory",)
PHOTOS = ("ProfilePhoto.Read.All", "User.Read.All")
_FILTERABLE = frozenset(
    {"displayName", "mail", "userPrincipalName", "id", "accountEnabled", "givenName", "surname"}
)
_NO_PHOTO = "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown."


def _refuse(req: GraphRequest, *options: str) -> None:
    for option in options:
        if req.q(option) is not None:
            raise bad_request(
                f"The query option '{option}' is not supported on this request.",
                code="Request_UnsupportedQuery",
            )


def _matcher(req: GraphRequest, table: dict[str, dict[str, Any]], users: bool = False):
    tests = []
    if (raw := req.q("$filter")) is not None and users:
        advanced = advanced_query(req.q("$count"), req.header("ConsistencyLevel"))
        tests.append(parse_user_filter(raw, advanced))
    elif raw is not None:
        tests.append(parse_filter(raw, _FILTERABLE))
    if (raw := req.q("$search")) is not None:
        tests.append(parse_search(raw, req.header("ConsistencyLevel")))
    if not tests:
        return None
    return lambda oid: all(test(table[oid]) for test in tests)


def list_users(req: GraphRequest) -> GraphResponse:
    req.require(*USERS)
    _refuse(req, "$orderby", "$skip", "$expand")
    select = props.parse_select(req.q("$select"))
    props.check_select(select, "user")
    users, shape = req.tenant.users, props.shaper("user", select, typed=False)
    return page(
        req,
        "users",
        req.tenant.sorted_ids("user"),
        lambda uid: shape(users[uid]) if uid in users else None,
        _matcher(req, users, users=True),
    )


def get_user(req: GraphRequest, user_id: str) -> GraphResponse:
    req.require(*USERS)
    select = props.parse_select(req.q("$select"))
    props.check_select(select, "user")
    user = req.tenant.find_user(user_id)
    if user is None:
        raise not_found(user_id)
    body = {
        "@odata.context": f"{req.graph_url}/$metadata#users/$entity",
        **props.shape(user, "user", select, False),
    }
    return GraphResponse(200, body)


def list_groups(req: GraphRequest) -> GraphResponse:
    req.require(*GROUPS)
    _refuse(req, "$orderby", "$skip", "$expand")
    select = props.parse_select(req.q("$select"))
    props.check_select(select, "group")
    groups, shape = req.tenant.groups, props.shaper("group", select, typed=False)
    return page(
        req,
        "groups",
        req.tenant.sorted_ids("group"),
        lambda gid: shape(groups[gid]) if gid in groups else None,
        _matcher(req, groups),
    )


def get_group(req: GraphRequest, group_id: str) -> GraphResponse:
    req.require(*GROUPS)
    select = props.parse_select(req.q("$select"))
    props.check_select(select, "group")
    group = req.tenant.groups.get(group_id)
    if group is None:
        raise not_found(group_id)
    body = {
        "@odata.context": f"{req.graph_url}/$metadata#groups/$entity",
        **props.shape(group, "group", select, False),
    }
    return GraphResponse(200, body)


def member_shaper(req: GraphRequest, select: tuple[str, ...] | None):
    """Members as the app may see them: without User.Read.All a user is only its type and id, and devices,
    service principals and contacts need Directory.Read.All."""
    tenant = req.tenant
    full_types = {"group"} | ({"user"} if req.has(*USERS) else set())
    if req.has():
        full_types |= {"device", "servicePrincipal", "orgContact"}
    shapers = {kind: props.shaper(kind, select, typed=True) for kind in full_types}

    def shape_member(oid: str) -> dict[str, Any] | None:
        kind, obj = tenant.typed_object(oid)
        if kind is None:
            return None
        if kind not in shapers:
            return props.bare(oid, kind)
        return shapers[kind](obj)

    return shape_member


def _members(req: GraphRequest, group_id: str, cast: str | None, transitive: bool) -> GraphResponse:
    req.require(*GROUPS)
    _refuse(req, "$orderby", "$skip", "$expand", "$search")
    tenant = req.tenant
    if group_id not in tenant.groups:
        raise not_found(group_id)
    if cast is not None and cast not in props.KNOWN:
        raise bad_request(f"Resource not found for the segment 'microsoft.graph.{cast}'.", code="BadRequest")
    select = props.parse_select(req.q("$select"))
    keys = tenant.transitive_member_ids(group_id) if transitive else tenant.direct_member_ids(group_id)
    keep = None if cast is None else (lambda oid: tenant.object_type(oid) == cast)
    if (raw := req.q("$filter")) is not None:
        # Members filtered on user properties: only cast to users, and only as an advanced query.
        if cast != "user" or not advanced_query(req.q("$count"), req.header("ConsistencyLevel")):
            raise bad_request(
                "Filtering a group's members needs the cast to microsoft.graph.user, the header "
                "'ConsistencyLevel: eventual' and $count=true.",
                code="Request_UnsupportedQuery",
            )
        test, users = parse_user_filter(raw, advanced=True), tenant.users
        keep = lambda oid: oid in users and test(users[oid])
    context = "directoryObjects" if cast is None else f"{cast}s"
    return page(req, context, keys, member_shaper(req, select), keep)


def members(req: GraphRequest, group_id: str, cast: str | None = None) -> GraphResponse:
    return _members(req, group_id, cast, transitive=False)


def transitive_members(req: GraphRequest, group_id: str, cast: str | None = None) -> GraphResponse:
    return _members(req, group_id, cast, transitive=True)


def role_members(req: GraphRequest, template_id: str) -> GraphResponse:
    req.require(*ROLES)
    holders = req.tenant.roles.get(template_id)
    if holders is None:
        raise not_found(f"roleTemplateId={template_id}")
    shaper = member_shaper(req, props.parse_select(req.q("$select")))
    body = {
        "@odata.context": f"{req.graph_url}/$metadata#directoryObjects",
        "value": [obj for obj in map(shaper, holders) if obj is not None],
    }
    return GraphResponse(200, body)


def role_assignments(req: GraphRequest) -> GraphResponse:
    req.require(*ROLES)
    raw = req.q("$filter") or ""
    wanted = set(_role_filter(raw))
    expand = (req.q("$expand") or "").lower() == "principal"
    shaper = member_shaper(req, None)
    value = []
    for template_id, holders in req.tenant.roles.items():
        if wanted and template_id not in wanted:
            continue
        for user_id in holders:
            item: dict[str, Any] = {
                "id": base64.urlsafe_b64encode(f"{template_id}:{user_id}".encode()).decode().rstrip("="),
                "principalId": user_id,
                "roleDefinitionId": template_id,
                "directoryScopeId": "/",
            }
            if expand:
                item["principal"] = shaper(user_id)
            value.append(item)
    context = "roleManagement/directory/roleAssignments" + ("(principal())" if expand else "")
    return GraphResponse(200, {"@odata.context": f"{req.graph_url}/$metadata#{context}", "value": value})


def _role_filter(raw: str) -> list[str]:
    if not raw:
        return []
    predicate_ids = [part.strip() for part in raw.split(" or ")]
    out = []
    for part in predicate_ids:
        name, _, literal = part.partition(" eq ")
        if name.strip() != "roleDefinitionId" or not literal.strip().startswith("'"):
            raise bad_request(f"Invalid filter clause: '{part}'.")
        out.append(literal.strip().strip("'"))
    return out


def _photo(req: GraphRequest, user_id: str) -> tuple[bytes, str, str]:
    req.require(*PHOTOS)
    user = req.tenant.find_user(user_id)
    if user is None:
        raise not_found(user_id)
    stored = req.tenant.photos.get(user["id"])
    if stored is None:
        raise GraphError(404, "ImageNotFound", _NO_PHOTO)
    return stored[0], stored[1], req.tenant.photo_etags[user["id"]]


def photo(req: GraphRequest, user_id: str) -> GraphResponse:
    data, content_type, etag = _photo(req, user_id)
    width, height = dimensions(data)
    body = {
        "@odata.context": f"{req.graph_url}/$metadata#users('{user_id}')/photo/$entity",
        "@odata.mediaContentType": content_type,
        "@odata.mediaEtag": etag,
        "id": "default",
        "height": height,
        "width": width,
    }
    return GraphResponse(200, body)


def photo_value(req: GraphRequest, user_id: str) -> GraphResponse:
    data, content_type, etag = _photo(req, user_id)
    return GraphResponse(200, data, {"Content-Type": content_type, "ETag": etag})
