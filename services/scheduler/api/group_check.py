"""Checking a configuration's groups against the team's directory, so a save never names a group that the
first run would fail on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from shared.graph.batch import batch_get, chunks
from shared.graph.client import GraphClient
from shared.graph.connection import credentials_for
from shared.graph.errors import GraphUnavailable, error_for
from shared.settings import Settings

PATIENCE = 30.0  # seconds an admin waits on a save before the directory counts as unreachable
# Graph answers 404 for an id it does not have and 400 for one that is not an object id at all.
_UNKNOWN = (400, 404)


def _group_url(group_id: str) -> str:
    return f"/groups/{quote(group_id, safe='')}?$select=id"


async def unknown_groups(
    settings: Settings,
    connection_row: Mapping[str, Any],
    group_ids: Sequence[str],
    graph: GraphClient | None = None,
) -> list[int]:
    """The positions in ``group_ids`` of the ids the directory has no group for, twenty ids to a ``$batch``.

    Raises shared.graph.errors.GraphError subclasses, with an admin-readable ``reason``, when the directory
    cannot say (no token, a missing permission, unreachable or slower than PATIENCE)."""
    positions = [str(i) for i in range(len(group_ids))]
    own = graph is None
    client = graph or GraphClient.from_settings(settings)
    try:
        async with asyncio.timeout(PATIENCE):
            tenant = client.for_tenant(credentials_for(settings, connection_row))
            answers = await asyncio.gather(
                *(
                    batch_get(tenant, {i: _group_url(group_ids[int(i)]) for i in chunk})
                    for chunk in chunks(positions)
                )
            )
    except TimeoutError:
        raise GraphUnavailable(f"the directory did not answer within {PATIENCE:.0f} s; try again") from None
    finally:
        if own:
            await client.close()
    unknown = []
    for item in (item for answer in answers for item in answer):
        if item.status in _UNKNOWN:
            unknown.append(int(item.id))
        elif item.status >= 400:
            raise error_for(item.status, item.body, _group_url(group_ids[int(item.id)]))
    return sorted(unknown)
