"""Which handler answers a Graph path, and the pipeline every Graph request (inner $batch ones too) runs:
count, throttle, dispatch, turn errors into Graph's error answers."""

from __future__ import annotations

import re
from collections.abc import Callable

from simulator import delta
from simulator import graph_routes as g
from simulator.errors import GraphError, bad_request
from simulator.limits import Limits, cost
from simulator.request import GraphRequest, GraphResponse

Handler = Callable[..., GraphResponse]
_OBJECT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_ID = r"(?P<{}>[^/]+)"
_CAST = r"(?:/microsoft\.graph\.(?P<cast>\w+))?"
_DELTA = r"(?:microsoft\.graph\.)?delta(?:\(\))?"
ROUTES: list[tuple[re.Pattern[str], Handler, str]] = [
    (re.compile(p), handler, kind)
    for p, handler, kind in [
        (r"users", g.list_users, "users"),
        (rf"users/{_DELTA}", delta.users_delta, "usersDelta"),
        (rf"users/{_ID.format('user_id')}", g.get_user, "user"),
        (rf"users/{_ID.format('user_id')}/photo", g.photo, "photo"),
        (rf"users/{_ID.format('user_id')}/photo/\$value", g.photo_value, "photoValue"),
        (r"groups", g.list_groups, "groups"),
        (rf"groups/{_DELTA}", delta.groups_delta, "groupsDelta"),
        (rf"groups/{_ID.format('group_id')}", g.get_group, "group"),
        (rf"groups/{_ID.format('group_id')}/members{_CAST}", g.members, "members"),
        (
            rf"groups/{_ID.format('group_id')}/transitiveMembers{_CAST}",
            g.transitive_members,
            "transitiveMembers",
        ),
        (r"directoryRoles\(roleTemplateId='(?P<template_id>[^']+)'\)/members", g.role_members, "roleMembers"),
        (r"roleManagement/directory/roleAssignments", g.role_assignments, "roleAssignments"),
    ]
]


def resolve(method: str, path: str) -> tuple[Handler, str, dict[str, str]]:
    for pattern, handler, kind in ROUTES:
        match = pattern.fullmatch(path.rstrip("/"))
        if match:
            if method != "GET":
                raise GraphError(
                    405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed here."
                )
            # Graph takes an object id in either case.
            return (
                handler,
                kind,
                {
                    k: v.lower() if _OBJECT_ID.fullmatch(v) else v
                    for k, v in match.groupdict().items()
                    if v is not None
                },
            )
    segment = path.split("/")[0] or path
    raise bad_request(f"Resource not found for the segment '{segment}'.", code="BadRequest")


def run(req: GraphRequest, limits: Limits) -> GraphResponse:
    """Answer one Graph request; errors come back as responses, in Graph's shape."""
    try:
        handler, kind, params = resolve(req.method, req.path)
        units = cost(kind, req.q("$select") is not None, req.q("$expand") is not None)
        headers = limits.admit(req.tenant.tenant_id, req.client_id, kind, req.key, units)
        response = handler(req, **params)
        response.headers.update(headers)
        return response
    except GraphError as error:
        return GraphResponse(error.status, error.body(req.header("client-request-id")), error.headers)
