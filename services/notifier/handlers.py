"""The notifier's message handlers: an invite per new membership and a digest per run, each sent once.

Exactly-once sending rests on the sent-log (``sent_emails``): it is checked before an email is sent and written
after the server accepted it. A crash in the short window between the server's "250 OK" and the log write means
the redelivered message sends that one email again; nothing can close that window, since SMTP has no way to ask
whether a message was taken. Within one process, a per-email lock keeps a redelivery that arrives while the first
delivery is still sending from sending in parallel.

A long SMTP outage must not lose anything, and the bus dead-letters a message after a few quick requeues. So a
temporary failure is retried here, with capped exponential backoff, for ``retry_for`` seconds (10 minutes by
default, well below RabbitMQ's 30-minute consumer acknowledgement timeout). The message stays unacked meanwhile;
the handlers run concurrently up to the prefetch, so other messages go on being handled. An invite still failing
after the window goes back to ``pending`` with the error, for an admin to send again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.notifier import store
from services.notifier.delivery import GaveUp, KeyedLocks, Transport, deliver
from services.notifier.mime import BadAddress, compose
from services.notifier.pending import send_pending_invites
from services.notifier.render import Card, Person, render_digest, render_invite
from services.notifier.smtp import PermanentMailError
from shared import metrics
from shared.bus import PermanentError
from shared.crypto import hash_token, new_token
from shared.messages import AdminDigestRequested, InviteRequested, Message
from shared.settings import Settings

log = logging.getLogger(__name__)


def _checked_ids(*values: str | None) -> None:
    for value in values:
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError as exc:
                raise PermanentError(f"{value!r} is not an id") from exc


class Notifier:
    consumer = "notifier"
    handles: tuple[type[Message], ...] = (InviteRequested, AdminDigestRequested)

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        transport: Transport,
        *,
        retry_for: float = 600.0,
        max_backoff: float = 30.0,
    ):
        self.pool = pool
        self.settings = settings
        self.transport = transport
        self.retry_for = retry_for
        self.max_backoff = max_backoff
        self._locks = KeyedLocks()

    @property
    def _base_url(self) -> str:
        return self.settings.public_url.rstrip("/")

    async def handle(self, msg: Message) -> None:
        """The one bus handler of the notifier's queue: ``bus.subscribe(n.consumer, n.handles, n.handle)``."""
        if isinstance(msg, InviteRequested):
            await self.on_invite_requested(msg)
        elif isinstance(msg, AdminDigestRequested):
            await self.on_digest_requested(msg)
        else:
            raise PermanentError(f"the notifier does not handle {type(msg).__name__}")

    async def on_invite_requested(self, msg: InviteRequested) -> None:
        _checked_ids(msg.team_id, msg.member_id, msg.run_id)
        async with self._locks.hold(store.invite_key(msg.member_id)):
            token = new_token()
            now = datetime.now(UTC)
            expires_at = now + timedelta(days=self.settings.invite_ttl_days)
            row = await store.reserve_invite(self.pool, msg.team_id, msg.member_id, hash_token(token), expires_at)
            if row is None:
                log.info("invite of member %s: already sent, claimed, failed or no longer wanted", msg.member_id)
                return
            card = Card(row["name"] or "", row["card_job_title"] or "", row["card_company"] or "",
                        row["card_email"] or "", row["card_phone"] or "")
            rendered = render_invite(row["team_name"], card, f"{self._base_url}/invites/{token}", expires_at)
            try:
                email = compose(rendered, self.settings.mail_from, Person(card.name, row["login_email"]), now)
                await deliver(self.transport, email, retry_for=self.retry_for, max_backoff=self.max_backoff)
            except (BadAddress, PermanentMailError) as exc:
                log.warning("invite of member %s failed for good: %s", msg.member_id, exc)
                metrics.EMAILS.labels("invite", "failed").inc()
                await store.invite_failed(self.pool, msg.member_id, msg.run_id, row["directory_id"],
                                          f"the invite email could not be delivered: {exc}")
                return
            except GaveUp as exc:
                await store.invite_back_to_pending(self.pool, msg.member_id, f"the invite email was not sent: {exc}")
                raise PermanentError(f"invite of member {msg.member_id}: {exc}") from exc
            # The server has the email now; until the next line commits, a crash means one duplicate (see above).
            await store.invite_sent(self.pool, msg.member_id, row["login_email"])
            metrics.EMAILS.labels("invite", "sent").inc()

    async def on_digest_requested(self, msg: AdminDigestRequested) -> None:
        _checked_ids(msg.team_id, msg.run_id)
        run = await store.load_run(self.pool, msg.team_id, msg.run_id)
        if run is None:
            log.warning("digest for run %s of team %s: no such run", msg.run_id, msg.team_id)
            return
        run_url = f"{self._base_url}/api/v1/teams/{msg.team_id}/sync/runs/{msg.run_id}"
        rendered = render_digest(msg.kind, run["team_name"], run_url, run["summary"], run["counts"])
        now = datetime.now(UTC)
        for admin in await store.team_admins(self.pool, msg.team_id):
            key = store.digest_key(msg.run_id, msg.kind, admin["member_id"])
            async with self._locks.hold(key):
                if await store.already_sent(self.pool, key):
                    continue
                try:
                    email = compose(rendered, self.settings.mail_from, Person(admin["name"], admin["email"]), now)
                    await deliver(self.transport, email, retry_for=self.retry_for, max_backoff=self.max_backoff)
                except (BadAddress, PermanentMailError) as exc:
                    log.warning("digest of run %s to admin %s failed for good: %s", msg.run_id, admin["member_id"], exc)
                    metrics.EMAILS.labels("digest", "failed").inc()
                    continue
                except GaveUp as exc:
                    raise PermanentError(f"digest of run {msg.run_id}: {exc}") from exc
                # As for invites: a crash before this write sends this admin's digest once more.
                await store.log_sent(self.pool, key, admin["email"])
                metrics.EMAILS.labels("digest", "sent").inc()

    async def send_pending_invites(self, team_id: str) -> int:
        return await send_pending_invites(self.pool, team_id)
