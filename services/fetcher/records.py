"""Reading single objects twenty to a ``$batch``: the synced groups' names, and whole user records (delta
reports only the properties that changed, but pages always carry complete records)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from services.fetcher.pages import user_of
from services.fetcher.tree import gather_all, group_path
from shared.graph.batch import batch_get, chunks
from shared.graph.client import TenantGraph
from shared.graph.errors import error_for
from shared.messages import DirectoryUser, GroupInfo


async def group_infos(graph: TenantGraph, group_ids: Sequence[str]) -> tuple[list[GroupInfo], list[str]]:
    """Every synced group's current name, and the synced groups the directory no longer has (R9: a run reads
    the others, and holds the members of those)."""
    infos: dict[str, GroupInfo] = {}
    gone: list[str] = []
    for ids in chunks(list(group_ids)):
        urls = {str(i): group_path(g) + "?$select=id,displayName" for i, g in enumerate(ids)}
        for item in await batch_get(graph, urls):
            group_id = ids[int(item.id)]
            if item.status == 404:
                gone.append(group_id)
                continue
            if item.status != 200:
                raise error_for(item.status, item.body, urls[item.id])
            infos[group_id] = GroupInfo(id=group_id, display_name=item.body.get("displayName") or "")
    return [infos[g] for g in group_ids if g in infos], gone


async def _batch(
    graph: TenantGraph, ids: Sequence[str], select: str, properties: Sequence[str]
) -> tuple[list[DirectoryUser], list[str]]:
    urls = {str(i): f"/users/{quote(u, safe='')}?$select={select}" for i, u in enumerate(ids)}
    found: dict[int, DirectoryUser] = {}
    gone: list[str] = []
    for item in await batch_get(graph, urls):
        position = int(item.id)
        if item.status == 200 and isinstance(item.body, dict):
            found[position] = user_of(item.body, properties)
        elif item.status == 404:
            gone.append(ids[position])
        else:
            raise error_for(item.status, item.body, urls[item.id])
    return [found[p] for p in sorted(found)], gone


async def fetch_users(
    graph: TenantGraph, ids: Sequence[str], select: str, properties: Sequence[str]
) -> tuple[list[DirectoryUser], list[str]]:
    """Whole records of ``ids``, in their order, the batches in parallel; users gone since come apart."""
    answers = await gather_all(_batch(graph, batch, select, properties) for batch in chunks(list(ids)))
    return [u for users, _ in answers for u in users], [g for _, gone in answers for g in gone]
