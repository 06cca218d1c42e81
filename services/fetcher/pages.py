"""Turning Graph member pages into snapshot messages: pure functions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.fetcher.scope import ScopeFilter
from shared.graph.errors import GraphForbidden
from shared.messages import DirectoryUser, MembersFetched, Message, SyncRequested

USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"
Publish = Callable[..., Awaitable[None]]


@dataclass
class PageContent:
    users: list[DirectoryUser] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def user_of(item: Mapping[str, Any], properties: Sequence[str]) -> DirectoryUser:
    return DirectoryUser(id=item["id"], properties={p: item.get(p) for p in properties if p != "id"})


def split_members(
    items: Iterable[Mapping[str, Any]], properties: Sequence[str], cast: bool = False
) -> PageContent:
    """Users of a ``transitiveMembers`` page (R2); groups, devices, contacts, service principals are dropped.
    Graph returns only id and type of users it may not read (no User.Read.All): that is an error for the run,
    not a page of blank users. ``cast``: the page was cast to users, whose items may leave out their type."""
    content = PageContent()
    blanks = 0
    for item in items:
        kind = item.get("@odata.type", USER_TYPE if cast else None)
        if kind != USER_TYPE:
            continue
        if not item.get("id"):
            content.skipped.append({"id": "", "reason": "a directory user came without an object id"})
            continue
        if item.get("userPrincipalName") is None:
            blanks += 1
            content.skipped.append({"id": str(item["id"]), "reason": "the directory returned no properties"})
            continue
        content.users.append(user_of(item, properties))
    if blanks and not content.users:
        raise GraphForbidden(
            "the app is missing the permission User.Read.All (with admin consent): Graph returned "
            "group members without their properties",
            status=403,
        )
    return content


class PageSink:
    """Numbers and sends a run's member pages: ``seq`` counts from 0 in the order pages are sent.

    Up to ``window`` pages are in flight at once: the broker confirms each, and waiting for one confirm before
    sending the next page would stall the read a round trip per page. ``flush`` waits for every confirm; a
    page that failed fails the run's fetch there, or at the next ``send``."""

    def __init__(
        self, request: SyncRequested, publish: Publish, window: int = 8, scope: ScopeFilter | None = None
    ):
        self.request = request
        self.publish = publish
        self.scope = scope  # R2 scope: users out of it are not listed
        self.pages = 0
        self.users = 0  # listed in the pages sent, once per page that lists them
        # A redelivered request fetches again from scratch; pages of an interrupted fetch must not mix in.
        self.attempt = uuid.uuid4().hex
        self._room = asyncio.Semaphore(window)
        self._in_flight: set[asyncio.Future[None]] = set()
        self._failures: list[BaseException] = []

    def build(
        self, group_id: str | None, users: list[DirectoryUser], removed_ids: Sequence[str] = ()
    ) -> Message:
        return MembersFetched(
            team_id=self.request.team_id,
            run_id=self.request.run_id,
            attempt=self.attempt,
            seq=self.pages,
            group_id=group_id,
            users=users,
            removed_ids=list(removed_ids),
        )

    async def send(
        self,
        group_id: str | None,
        users: list[DirectoryUser],
        removed_ids: Sequence[str] = (),
        *,
        out_of_scope_left: bool = False,
    ) -> None:
        """``out_of_scope_left``: a delta page, where a user out of the scope leaves the group (R2 scope: it
        counts as in no synced group); a full read just leaves it off its pages."""
        if self.scope is not None and users:
            users, out = self.scope.split(users)
            if out and out_of_scope_left:
                removed_ids = [*removed_ids, *out]
        if not users and not removed_ids:
            return
        self._raise_failure()
        message = self.build(group_id, users, removed_ids)
        self.pages += 1
        self.users += len(users)
        await self._room.acquire()
        sending = asyncio.ensure_future(self.publish(message))
        self._in_flight.add(sending)
        sending.add_done_callback(self._sent)

    async def flush(self) -> None:
        """Every page sent so far is confirmed; raises the first that was not."""
        await self.settle()
        self._raise_failure()

    async def settle(self) -> None:
        """Wait for the pages in flight, whatever becomes of them (before a run's failure is reported)."""
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    def cancel(self) -> None:
        for sending in self._in_flight:
            sending.cancel()

    def _sent(self, sending: asyncio.Future[None]) -> None:
        self._in_flight.discard(sending)
        self._room.release()
        if not sending.cancelled() and sending.exception() is not None:
            self._failures.append(sending.exception())

    def _raise_failure(self) -> None:
        if self._failures:
            raise self._failures[0]
