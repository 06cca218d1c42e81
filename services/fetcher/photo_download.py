"""Profile photos: Graph has no delta for them, so a run checks new members and a rotating slice of the
others, by etag, twenty to a ``$batch``, and downloads only the photos whose etag changed, each on its own:
streamed, so that no more of a photo is read than may be kept (inside a ``$batch`` answer, a photo would come
whole, base64 in JSON, however large). A photo that is not kept (too large, or not a JPEG, PNG or GIF image
whatever its header says) goes on the run's member errors, and its etag is recorded: it is not fetched again
until it changes, and the member keeps the photo it had. A photo Graph would not give goes on the member
errors too, unrecorded: the next run asks again. A photo sent (or a removal) is recorded only once the
reconciler says it stored it (PhotosStored): one lost on its way, dead-lettered say, is fetched again.

Batches are checked by several workers at once, each downloading its batch's changed photos as soon as it
knows them, so that the tenant's requests in flight (the Graph client's cap) are always taken. The photos of
many batches go to the reconciler together, in messages of up to MESSAGE_BYTES of images (or MESSAGE_PHOTOS
photos), and the etags and errors of what a message covers are recorded together after it: on a first sync,
one message, one etag statement and one error statement per batch of twenty would cost more than the
photos."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import asyncpg

from services.fetcher import photo_etags
from services.fetcher.ids import Ids
from services.fetcher.pages import Publish
from shared import runs
from shared.graph.batch import MAX_BATCH, BatchItem, batch_get
from shared.graph.client import TenantGraph
from shared.graph.errors import error_for
from shared.image_types import MAX_PHOTO_BYTES, photo_problem, sniff
from shared.messages import FetchedPhoto, PhotosFetched, RunMessage

log = logging.getLogger(__name__)
# Answers that fail the whole step: a refused token or a missing permission is the same for every photo.
REFUSED = (401, 403)
MESSAGE_BYTES = 1024 * 1024  # of images in a message, base64 (a larger photo goes alone)
MESSAGE_PHOTOS = 500


@dataclass
class PhotoPlan:
    download: dict[str, str] = field(default_factory=dict)  # id -> new etag
    removed: list[str] = field(default_factory=list)
    seen: dict[str, str | None] = field(default_factory=dict)  # id -> etag to record (None: no photo)
    failed: dict[str, BatchItem] = field(default_factory=dict)  # id -> the answer that was no answer


def plan_photos(
    ids: Sequence[str], known: Mapping[str, str | None], answers: Mapping[str, BatchItem]
) -> PhotoPlan:
    """From the photo metadata answers (keyed by position in ``ids``), what to download, clear and record.
    A user with no photo (404) clears one seen before; another failure is kept apart, for the run's errors."""
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
        else:
            plan.failed[user_id] = answer
    return plan


def photo_path(user_id: str, value: bool = False) -> str:
    return f"/users/{quote(user_id, safe='')}/photo" + ("/$value" if value else "")


def _unread(user_id: str, status: int, body: object, value: bool = False) -> dict[str, str]:
    reason = error_for(status, body, photo_path(user_id, value)).reason
    return {"directory_id": user_id, "message": f"the profile photo could not be read: {reason}"}


@dataclass
class _Download:
    photo: FetchedPhoto | None = None
    judged: bool = False  # Graph gave a photo to judge: its etag is recorded
    error: dict[str, str] | None = None


class PhotoCheck:
    """One run's photo step: ``checked`` users so far, ``sent`` messages of photos (numbered from 0 within
    ``attempt``: a redelivered RunApplied checks again, apart)."""

    def __init__(
        self,
        graph: TenantGraph,
        pool: asyncpg.Pool,
        run: RunMessage,
        publish: Publish,
        workers: int,
        attempt: str,
    ):
        self.graph = graph
        self.pool = pool
        self.run = run
        self.publish = publish
        self.workers = workers
        self.attempt = attempt
        self.checked = 0
        self.sent = 0
        # What the batches checked so far found, until it is sent (photos) and recorded (etags, errors).
        self._photos: list[FetchedPhoto] = []
        self._bytes = 0
        self._seen: dict[str, str | None] = {}
        self._errors: list[dict[str, str]] = []
        self._sending = asyncio.Lock()

    def progress(self) -> dict[str, int]:
        return {"photos_checked": self.checked}

    async def check(self, candidates: Iterable[str]) -> None:
        """Check ``candidates``' photos. On a failure that is not about one photo (a GraphError), the workers
        finish the batches they hold, so that every message counted in ``sent`` was sent, and it is raised."""
        known = await photo_etags.known_etags(self.pool, self.run.team_id, candidates)
        batches = batched(candidates)
        failures: list[Exception] = []
        await asyncio.gather(*(self._work(batches, known, failures) for _ in range(self.workers)))
        await self._send()
        if failures:
            raise failures[0]

    async def _work(
        self, batches: Iterator[Sequence[str]], known: Mapping[str, str | None], failures: list[Exception]
    ) -> None:
        for ids in batches:  # one iterator for all the workers: each takes the next batch
            if failures:
                return
            try:
                await self._check(ids, known)
            except Exception as exc:  # noqa: BLE001 - raised by ``check`` once the other workers stop
                failures.append(exc)
                return
            self.checked += len(ids)

    async def _check(self, ids: Sequence[str], known: Mapping[str, str | None]) -> None:
        answers = await batch_get(self.graph, {str(i): photo_path(u) for i, u in enumerate(ids)})
        plan = plan_photos(ids, known, {a.id: a for a in answers})
        if refused := next((a for a in plan.failed.values() if a.status in REFUSED), None):
            raise error_for(refused.status, refused.body, photo_path(ids[0]))
        errors = [_unread(u, a.status, a.body) for u, a in plan.failed.items()]
        wanted = list(plan.download.items())
        downloads = await asyncio.gather(*(self._download(u, etag) for u, etag in wanted))
        photos = [FetchedPhoto(directory_id=u, etag=None, content_type=None) for u in plan.removed]
        for user_id in plan.removed:
            plan.seen.pop(user_id, None)  # recorded once the reconciler removed it (PhotosStored)
        for (user_id, etag), download in zip(wanted, downloads, strict=True):
            if download.judged and download.photo is None:  # judged and not kept: nothing to store
                plan.seen[user_id] = etag
            if download.photo is not None:
                photos.append(download.photo)
            if download.error is not None:
                errors.append(download.error)
        self._photos += photos
        self._bytes += sum(len(p.data_b64 or "") for p in photos)
        self._seen.update(plan.seen)
        self._errors += errors
        if self._bytes >= MESSAGE_BYTES or len(self._photos) >= MESSAGE_PHOTOS:
            await self._send()

    async def _send(self) -> None:
        """Send the photos found so far in one message, then record the errors and the etags of what needs no
        storing. Recorded only after the message: a crash in between re-sends, never loses, a photo. (The
        photos sent are recorded once stored: ``Fetcher.on_photos_stored``.)"""
        async with self._sending:
            photos, self._photos, self._bytes = self._photos, [], 0
            seen, self._seen = self._seen, {}
            errors, self._errors = self._errors, []
            if photos:
                seq, self.sent = self.sent, self.sent + 1
                run = self.run
                await self.publish(
                    PhotosFetched(
                        team_id=run.team_id, run_id=run.run_id, attempt=self.attempt, seq=seq, photos=photos
                    )
                )
            await runs.add_member_errors(self.pool, self.run.run_id, errors)
            await photo_etags.record(self.pool, self.run.team_id, seen)

    async def _download(self, user_id: str, etag: str) -> _Download:
        """One photo, reading MAX_PHOTO_BYTES and one byte at most. Without one (the user's photo went
        meanwhile, or Graph failed), a later run asks again."""
        response = await self.graph.request(
            "GET",
            self.graph.url(photo_path(user_id, value=True)),
            headers={"Accept": "*/*"},
            max_body=MAX_PHOTO_BYTES,
        )
        if response.status == 404:
            return _Download()
        if response.status in REFUSED:
            raise error_for(response.status, response.json(), photo_path(user_id, value=True))
        if response.status != 200:
            return _Download(error=_unread(user_id, response.status, response.json(), value=True))
        if problem := photo_problem(response.body, response.complete, response.headers.get("Content-Type")):
            message = f"the profile photo was not stored: it {problem}; the member keeps the photo it had"
            return _Download(judged=True, error={"directory_id": user_id, "message": message})
        photo = FetchedPhoto(
            directory_id=user_id,
            etag=etag,
            content_type=sniff(response.body),
            data_b64=base64.b64encode(response.body).decode(),
        )
        return _Download(photo, judged=True)


async def photo_candidates(pool: asyncpg.Pool, team_id: str, slice_days: int) -> Ids:
    """The team's members whose photo no check has recorded (new members, and those whose check failed or was
    cut short), then the rotating slice of members checked before (the cursor moves on), each once."""
    rotation = await photo_etags.rotating_slice(pool, team_id, slice_days)
    # Apart unless a record came in between: a rotating user is not taken again as a fresh one.
    candidates = await photo_etags.unchecked_members(pool, team_id, skip=set(rotation))
    if rotation:
        await photo_etags.advance(pool, team_id, rotation[-1], len(rotation), slice_days)
    candidates.update(rotation)
    return candidates


def batched(ids: Iterable[str], size: int = MAX_BATCH) -> Iterator[list[str]]:
    batch: list[str] = []
    for object_id in ids:
        batch.append(object_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
