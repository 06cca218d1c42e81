"""Profile photos: Graph has no delta for them, so a run checks new members and a rotating slice of the
others, by etag, twenty to a ``$batch``, and downloads only the photos whose etag changed, each on its own:
streamed, so that no more of a photo is read than may be kept (inside a ``$batch`` answer, a photo would come
whole, base64 in JSON, however large). A photo that is not kept (too large, or not a JPEG, PNG or GIF image
whatever its header says) goes on the run's member errors, and its etag is recorded: it is not fetched again
until it changes, and the member keeps the photo it had."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import asyncpg

from services.fetcher import photo_etags
from services.fetcher.pages import Publish
from shared import runs
from shared.graph.batch import BatchItem, batch_get, chunks
from shared.graph.client import TenantGraph
from shared.graph.errors import GraphError
from shared.image_types import MAX_PHOTO_BYTES, photo_problem, sniff
from shared.messages import PhotoFetched, RunMessage

log = logging.getLogger(__name__)
PARALLEL_BATCHES = 4


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


async def _fetch(
    graph: TenantGraph, msg: RunMessage, user_id: str, etag: str, publish: Publish
) -> tuple[bool, str | None]:
    """Download one photo, reading MAX_PHOTO_BYTES and one byte at most, and send it on when it may be kept:
    (whether Graph gave a photo to judge, the member error when it is not kept). Without one (the user's photo
    went meanwhile, or Graph failed), a later run asks again."""
    response = await graph.request(
        "GET", graph.url(photo_path(user_id, value=True)), headers={"Accept": "*/*"}, max_body=MAX_PHOTO_BYTES
    )
    if response.status != 200:
        return False, None
    if problem := photo_problem(response.body, response.complete, response.headers.get("Content-Type")):
        return True, f"the profile photo was not stored: it {problem}; the member keeps the photo it had"
    await publish(
        PhotoFetched(
            team_id=msg.team_id,
            run_id=msg.run_id,
            directory_id=user_id,
            etag=etag,
            content_type=sniff(response.body),
            data_b64=base64.b64encode(response.body).decode(),
        )
    )
    return True, None


async def _check(
    graph: TenantGraph,
    pool: asyncpg.Pool,
    msg: RunMessage,
    ids: Sequence[str],
    known: Mapping[str, str | None],
    publish: Publish,
) -> None:
    answers = await batch_get(graph, {str(i): photo_path(u) for i, u in enumerate(ids)})
    plan = plan_photos(ids, known, {a.id: a for a in answers})
    wanted = list(plan.download.items())
    # Each is sent on as soon as it is read, so that a batch's photos are not all held at once.
    outcomes = await asyncio.gather(
        *(_fetch(graph, msg, u, etag, publish) for u, etag in wanted), return_exceptions=True
    )
    errors = []
    for (user_id, etag), outcome in zip(wanted, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            continue
        judged, error = outcome
        if judged:
            plan.seen[user_id] = etag
        if error is not None:
            errors.append({"directory_id": user_id, "message": error})
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
    # Recorded only after the messages and errors: a crash in between re-sends, never loses, a photo.
    await runs.add_member_errors(pool, msg.run_id, errors)
    await photo_etags.record(pool, msg.team_id, plan.seen)
    if failed := next((o for o in outcomes if isinstance(o, BaseException)), None):
        raise failed


async def sync_photos(
    graph: TenantGraph, pool: asyncpg.Pool, msg: RunMessage, candidates: Sequence[str], publish: Publish
) -> None:
    """Check ``candidates``' photos; failures are logged, never fail the (already completed) run."""
    groups = list(chunks(list(candidates)))
    known = await photo_etags.known_etags(pool, msg.team_id, candidates)
    try:
        for start in range(0, len(groups), PARALLEL_BATCHES):
            wave = groups[start : start + PARALLEL_BATCHES]
            await asyncio.gather(*(_check(graph, pool, msg, ids, known, publish) for ids in wave))
    except GraphError as exc:
        log.warning("photos not synced: %s", exc.reason)


async def photo_candidates(pool: asyncpg.Pool, team_id: str, slice_days: int) -> list[str]:
    """The team's members whose photo no check has recorded (new members, and those whose check failed or was
    cut short), then the rotating slice of members checked before (the cursor moves on)."""
    fresh = await photo_etags.unchecked_members(pool, team_id)
    rotation = await photo_etags.rotating_slice(pool, team_id, slice_days)
    if rotation:
        await photo_etags.advance(pool, team_id, rotation[-1], len(rotation), slice_days)
    return list(dict.fromkeys([*fresh, *rotation]))
