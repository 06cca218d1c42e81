"""Profile photos: Graph has no delta for them, so a run checks new members and a rotating slice of the
others, by etag, twenty to a ``$batch``, and downloads only the photos whose etag changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import asyncpg

from services.fetcher import photo_store
from services.fetcher.pages import Publish
from shared.graph.batch import BatchItem, batch_get, chunks
from shared.graph.client import TenantGraph
from shared.graph.errors import GraphError
from shared.messages import PhotoFetched, SyncRequested

log = logging.getLogger(__name__)
PARALLEL_BATCHES = 4
CATCH_UP = 2000  # users a delta run checks beyond its joiners and the rotation (a hundred $batch requests)


@dataclass
class PhotoPlan:
    download: dict[str, str] = field(default_factory=dict)  # id -> new etag
    removed: list[str] = field(default_factory=list)
    seen: dict[str, str | None] = field(default_factory=dict)  # id -> etag to record (None: no photo)


def plan_photos(
    ids: Sequence[str], known: Mapping[str, str | None], answers: Mapping[str, BatchItem]
) -> PhotoPlan:
    """From the photo metadata answers (keyed by position in ``ids``), what to download, clear and record.
    A user with no photo (404) clears one seen before; other failures are left for a later run."""
    plan = PhotoPlan()
    for position, user_id in enumerate(ids):
        answer = answers.get(str(position))
        if answer is None:
            continue
        if answer.status == 200 and isinstance(answer.body, dict):
            etag = str(answer.body.get("@odata.mediaEtag") or "")
            if user_id not in known or known[user_id] != etag:
                plan.download[user_id] = etag
            else:
                plan.seen[user_id] = etag
        elif answer.status == 404:
            if known.get(user_id) is not None:
                plan.removed.append(user_id)
            plan.seen[user_id] = None
    return plan


def photo_path(user_id: str, value: bool = False) -> str:
    return f"/users/{quote(user_id, safe='')}/photo" + ("/$value" if value else "")


async def _check(
    graph: TenantGraph,
    pool: asyncpg.Pool,
    msg: SyncRequested,
    ids: Sequence[str],
    known: Mapping[str, str | None],
    publish: Publish,
) -> None:
    answers = await batch_get(graph, {str(i): photo_path(u) for i, u in enumerate(ids)})
    plan = plan_photos(ids, known, {a.id: a for a in answers})
    wanted = list(plan.download)
    if wanted:
        values = await batch_get(graph, {str(i): photo_path(u, value=True) for i, u in enumerate(wanted)})
        for item in values:
            user_id = wanted[int(item.id)]
            if item.status != 200 or not isinstance(item.body, str):
                continue
            content_type = next((v for k, v in item.headers.items() if k.lower() == "content-type"), None)
            await publish(
                PhotoFetched(
                    team_id=msg.team_id,
                    run_id=msg.run_id,
                    directory_id=user_id,
                    etag=plan.download[user_id],
                    content_type=content_type or "image/jpeg",
                    data_b64=item.body,
                )
            )
            plan.seen[user_id] = plan.download[user_id]
    for user_id in plan.removed:
        await publish(
            PhotoFetched(
                team_id=msg.team_id,
                run_id=msg.run_id,
                directory_id=user_id,
                etag=None,
                content_type=None,
            )
        )
    # Recorded only after the messages left: a crash in between re-sends, never loses, a photo.
    await photo_store.record(pool, msg.team_id, plan.seen)


async def sync_photos(
    graph: TenantGraph, pool: asyncpg.Pool, msg: SyncRequested, candidates: Sequence[str], publish: Publish
) -> None:
    """Check ``candidates``' photos; failures are logged, never fail the (already completed) run."""
    groups = list(chunks(list(candidates)))
    known = await photo_store.known_etags(pool, msg.team_id, candidates)
    try:
        for start in range(0, len(groups), PARALLEL_BATCHES):
            wave = groups[start : start + PARALLEL_BATCHES]
            await asyncio.gather(*(_check(graph, pool, msg, ids, known, publish) for ids in wave))
    except GraphError as exc:
        log.warning("photos not synced: %s", exc.reason)


async def photo_candidates(
    pool: asyncpg.Pool,
    team_id: str,
    member_ids: Sequence[str],
    slice_days: int,
    catch_up: str | None = None,
    left: Collection[str] = (),
) -> list[str]:
    """New members first, then the rotating slice of members checked before (the cursor moves on). With
    ``catch_up`` (the id of a delta run, which names only the users who joined), also users of the synced
    groups whose photo no check has recorded yet (a check that failed or was cut short), CATCH_UP at most, but
    not those the run saw ``left`` (the group graph drops them only once the run has succeeded)."""
    fresh = await photo_store.new_ids(pool, team_id, member_ids)
    if catch_up is not None:
        fresh += [u for u in await photo_store.unchecked(pool, team_id, CATCH_UP + len(left), catch_up)
                  if u not in left]
    rotation = await photo_store.rotating_slice(pool, team_id, slice_days)
    if rotation:
        await photo_store.advance(pool, team_id, rotation[-1])
    return list(dict.fromkeys([*fresh, *rotation]))
