"""The team's sync configuration, versioned by an ETag (R14, R15)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.scheduler.api.endpoint import Call, Endpoint, json_response
from services.scheduler.api.group_check import unknown_groups
from services.scheduler.api.models.config import ConfigCheckOut, ConfigIn, ConfigOut, RealtimeStatusOut
from services.scheduler.api.problems import Problem, invalid
from services.scheduler.cadence import next_run_at
from services.scheduler.realtime.status import realtime_status
from shared import runs
from shared.config import SyncConfig
from shared.graph.errors import GraphError

log = logging.getLogger(__name__)


def etag(version: int) -> str:
    return f'"{version}"'


_VERSION_TAG = re.compile(r'"([0-9]{1,18})"')  # ours: ASCII digits only, as ``etag`` writes them


def if_match_versions(header: str | None) -> set[int] | None:
    """The versions an If-Match header accepts; None when it accepts any (absent, or ``*``).

    If-Match compares strongly (RFC 9110 13.1.1): a weak tag (``W/"3"``) or an unquoted one matches
    nothing."""
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        if match := _VERSION_TAG.fullmatch(tag.strip()):
            versions.add(int(match[1]))
    return versions


async def _answer(call: Call, config: dict[str, Any], version: int, next_at: datetime | None) -> web.Response:
    saved = SyncConfig.model_validate(config)
    status = await realtime_status(call.pool, call.settings, call.team, saved)
    body = ConfigOut(
        **saved.model_dump(), next_run_at=next_at, realtime_status=RealtimeStatusOut(**vars(status))
    )
    return json_response(body, headers={"ETag": etag(version)})


async def get_config(call: Call) -> web.Response:
    row = await call.pool.fetchrow(
        "SELECT config, version, next_run_at FROM sync_configs WHERE team_id = $1", call.team
    )
    if row is None:
        return await _answer(call, SyncConfig().model_dump(mode="json"), 0, None)
    return await _answer(call, row["config"], row["version"], row["next_run_at"])


def _refuse_stale(accepted: set[int] | None, version: int) -> None:
    if accepted is not None and version not in accepted:
        raise _stale(version)


def _stale(version: int) -> Problem:
    return Problem(
        412,
        "the configuration changed since it was read: reload it and save again",
        headers={"ETag": etag(version)},
    )


async def _check_groups(call: Call, config: SyncConfig, saved: set[str]) -> None:
    """Every group newly chosen must exist in the team's directory (422 naming each one that does not). The
    groups already saved were checked when they were chosen: an edit of anything else neither waits for the
    directory nor fails while it cannot be reached (a group deleted since fails its run, naming it)."""
    fresh = [i for i, g in enumerate(config.groups) if g.id not in saved]
    if not fresh:
        return
    connection = await call.pool.fetchrow("SELECT * FROM directory_connections WHERE team_id = $1", call.team)
    if connection is None:  # no directory to find them in: as unknown as groups it does not have
        raise invalid(
            [
                {
                    "loc": ["groups", i, "id"],
                    "msg": "no directory is connected to find this group in:"
                    " PUT /api/v1/teams/{team_id}/directory first",
                }
                for i in fresh
            ]
        )
    try:
        ids = [config.groups[i].id for i in fresh]
        unknown = await unknown_groups(call.settings, connection, ids, call.graph)
    except GraphError as exc:
        log.warning("checking the groups of team %s failed: %s", call.team, exc.reason)
        raise Problem(502, f"the groups could not be checked against the directory: {exc.reason}") from None
    if unknown:
        raise invalid(
            [
                {"loc": ["groups", fresh[i], "id"], "msg": "the directory has no group with this id"}
                for i in unknown
            ]
        )


async def put_config(call: Call) -> web.Response:
    config = call.body.config()
    accepted = if_match_versions(call.request.headers.get("If-Match"))
    saved = await call.pool.fetchrow("SELECT version, config FROM sync_configs WHERE team_id = $1", call.team)
    _refuse_stale(accepted, saved["version"] if saved else 0)  # before anything is checked
    await _check_groups(
        call, config, {g["id"] for g in saved["config"].get("groups", [])} if saved else set()
    )
    data = config.model_dump(mode="json")
    async with call.pool.acquire() as conn, conn.transaction():
        current = await conn.fetchrow(
            "SELECT version, cadence, config ->> 'at' AS at, coalesce(config ->> 'timezone', 'UTC') AS "
            "timezone,"
            " next_run_at FROM sync_configs WHERE team_id = $1 FOR UPDATE",
            call.team,
        )
        version = current["version"] if current else 0
        _refuse_stale(accepted, version)
        schedule = (config.cadence, config.at, config.timezone)
        if (
            current
            and (current["cadence"], current["at"], current["timezone"]) == schedule
            and current["next_run_at"]
        ):
            next_at = current["next_run_at"]  # the same schedule: keep the team's next run
        else:  # R14: a changed schedule applies at once
            next_at = next_run_at(
                config.cadence, datetime.now(UTC), call.team, config.time_of_day(), config.timezone
            )
        row = await conn.fetchrow(
            "INSERT INTO sync_configs (team_id, config, cadence, next_run_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (team_id) DO UPDATE SET config = EXCLUDED.config, cadence = EXCLUDED.cadence,"
            " next_run_at = EXCLUDED.next_run_at, version = sync_configs.version + 1, updated_at = now()"
            " WHERE sync_configs.version = $5 RETURNING version",
            call.team,
            data,
            config.cadence,
            next_at,
            version,
        )
        if row is None:  # another first save committed between our read and our write
            raise _stale(version)
        # R15: a save applies from the next run, and a run no fetcher has taken yet is the next one (Sync Now
        # hands it back rather than queueing another).
        await runs.configure_queued(conn, call.team, data)
        before = saved["config"] if saved else {}
        changed = sorted(k for k in data if k != "next_run_at" and before.get(k) != data[k])
        await call.audit("config.save", {"version": row["version"], "changed": changed}, conn)
    return await _answer(call, data, row["version"], next_at)


async def check_config(call: Call) -> web.Response:
    """The body was checked as a save checks it (the model, every field at once); nothing is saved. The
    groups are not looked up in the directory: a save does that."""
    return json_response(ConfigCheckOut(valid=True))


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/teams/{team_id}/sync/config",
        get_config,
        "Read the sync configuration (defaults until one is saved); the ETag is its version",
        {200: ConfigOut},
        versioned=True,
    ),
    Endpoint(
        "PUT",
        "/api/v1/teams/{team_id}/sync/config",
        put_config,
        "Save the whole configuration; If-Match refuses a stale save with 412, an unknown group with 422",
        {200: ConfigOut},
        body=ConfigIn,
        versioned=True,
        problems={
            422: "a newly chosen group is not in the team's directory, or no directory is connected",
            502: "the groups could not be checked against the directory",
        },
    ),
    Endpoint(
        "POST",
        "/api/v1/teams/{team_id}/sync/config/check",
        check_config,
        "Check a whole configuration as a save would (422 listing every bad field), without saving it",
        {200: ConfigCheckOut},
        body=ConfigIn,
    ),
)
