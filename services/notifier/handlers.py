"""The notifier's message handlers: an invite per new membership (R11) and a digest per run (R16), each sent
once.

Once, across any number of replicas, rests on the sent-log (``sentlog``): before an email goes out, its key is
claimed in a committed ``sending`` row with a lease; after the server's "250 OK" the row is marked ``sent`` (a
refusal marks it ``failed``). A replica that finds a live claim of another waits for its outcome, so a
redelivered message neither sends twice nor is acked while the email may still be lost. The crash windows:

- before the email went out: the claim's lease runs out (``lease`` seconds, 3 minutes by default) and the
  redelivered message claims and sends it then. Late, never twice.
- from the end of the email's DATA until the ``sent`` mark commits (the server's reply, then one batched write
  that does not wait for company): the redelivered message sends that one email again after the lease. This is
  the only way an email goes twice, and nothing can close it, since SMTP has no way to ask whether a message
  was taken; the mark is retried through database errors for half a lease rather than given up.

A long SMTP outage must not lose anything, and the bus dead-letters a message after a few retries half a
minute apart at most. So a temporary failure is retried here, with capped exponential backoff, for
``retry_for`` seconds (10 minutes by default, well below RabbitMQ's 30-minute consumer acknowledgement timeout
even with a lease of waiting on top). The message stays unacked meanwhile; the handlers run concurrently up to
the prefetch, so other messages go on being handled, and the invites of concurrent messages are claimed and
recorded in batches. An invite still failing after the window goes back to ``pending`` with the error, for an
admin to send again. A digest has nothing to go back to: its message is delivered again, each delivery another
window, until the bus's delivery limit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from services.notifier import store
from services.notifier.delivery import GaveUp, Transport, deliver
from services.notifier.invites import InviteAsk, InviteClaims
from services.notifier.mime import BadAddress, compose
from services.notifier.pending import send_pending_invites
from services.notifier.render import (
    Card,
    Person,
    Rendered,
    render_credential_expiring,
    render_digest,
    render_invite,
    render_notice,
)
from services.notifier.sentlog import Claimed, LostClaim, SentLog, digest_key, notice_key, settle
from services.notifier.smtp import PermanentMailError
from services.notifier.webhook_deliveries import WebhookSender, make_deliveries
from shared import metrics
from shared.crypto import hash_token, new_token
from shared.errors import Permanent, Retry
from shared.messages import (
    AdminDigestRequested,
    CredentialExpiring,
    InviteRequested,
    InvitesRequested,
    PendingInvitesRequested,
    RunNoticeRequested,
    WebhookEvent,
)
from shared.settings import Settings

log = logging.getLogger(__name__)


class DigestWaiting(Retry):
    """A digest some admin has not had yet, for the mail server would not take it: the bus delivers it again
    after a wait."""


def _checked_ids(*values: str | None) -> None:
    for value in values:
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError as exc:
                raise Permanent(f"{value!r} is not an id") from exc


class Notifier:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        transport: Transport,
        *,
        retry_for: float = 600.0,
        max_backoff: float = 30.0,
        lease: float = 180.0,
        window: int = 64,
    ):
        if transport.attempt_timeout >= lease / 2:
            raise ValueError(
                f"a lease of {lease} s is too short for attempts of up to"
                f" {transport.attempt_timeout} s: an attempt must fit in half a lease"
            )
        self.pool = pool
        self.settings = settings
        self.transport = transport
        self.retry_for = retry_for
        self.max_backoff = max_backoff
        self.sentlog = SentLog(pool, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", lease)
        self._invites = InviteClaims(self.sentlog, settings.invite_ttl_days)
        # The invites of batched messages in hand at once, over all messages: enough to keep every SMTP
        # connection busy and the claims in large statements, few enough that a crash leaves few claims to
        # wait out their lease.
        self._window = asyncio.Semaphore(window)
        self.webhooks = WebhookSender(pool, settings)

    @property
    def _base_url(self) -> str:
        return self.settings.public_url.rstrip("/")

    async def on_invite_requested(self, msg: InviteRequested) -> None:
        _checked_ids(msg.team_id, msg.member_id, msg.run_id)
        await _to_its_end(self._invite(msg.team_id, msg.member_id, msg.run_id))

    async def on_invites_requested(self, msg: InvitesRequested) -> None:
        """Each member's invite, as ``on_invite_requested`` sends one, a window at a time. The message is
        settled once every invite has come to its end: should one fail for a reason that passes (the
        database), the message is delivered again and sends only what is still unsent; one the mail server
        would not take for the whole retry window is pending again, for an admin to send."""
        _checked_ids(msg.team_id, msg.run_id, *msg.member_ids)
        await _to_its_end(self._invite_all(msg))

    async def _invite_all(self, msg: InvitesRequested) -> None:
        async def one(member_id: str) -> None:
            async with self._window:
                await self._invite(msg.team_id, member_id, msg.run_id)

        members = list(dict.fromkeys(msg.member_ids))
        outcomes = await asyncio.gather(*(one(m) for m in members), return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if again := [e for e in failed if not isinstance(e, Permanent)]:
            raise again[0]
        if failed:
            raise Permanent(f"{len(failed)} of {len(members)} invites were not sent; the first: {failed[0]}")

    async def _invite(self, team_id: str, member_id: str, run_id: str | None) -> None:
        token = new_token()
        ask = InviteAsk(str(uuid.UUID(team_id)), str(uuid.UUID(member_id)), hash_token(token))
        claimed = await settle(lambda: self._invites.claim(ask))
        if claimed is None:
            log.info("invite of member %s: already sent, claimed, failed or no longer wanted", member_id)
            return
        row = claimed.row
        assert row is not None
        card = Card(
            row["name"] or "",
            row["card_job_title"] or "",
            row["card_company"] or "",
            row["card_email"] or "",
            row["card_phone"] or "",
        )
        rendered = render_invite(
            row["team_name"], card, f"{self._base_url}/invites/{token}", row["expires_at"]
        )
        # To the card's email (the user's mail, else its login): a guest's login
        # (…#EXT#@tenant.onmicrosoft.com) has no mailbox behind it.
        try:
            await self._send(
                "invite",
                claimed,
                rendered,
                Person(card.name, card.email),
                member_id=member_id,
                run_id=run_id,
                directory_id=row["directory_id"],
            )
        except GaveUp as exc:  # the invite is pending again, with the error, for an admin to send again
            raise Permanent(f"invite {claimed.lease.key}: {exc}") from exc

    async def on_digest_requested(self, msg: AdminDigestRequested) -> None:
        _checked_ids(msg.team_id, msg.run_id)
        await _to_its_end(self._digest(msg))

    async def _digest(self, msg: AdminDigestRequested) -> None:
        run = await store.load_run(self.pool, msg.team_id, msg.run_id)
        if run is None:
            log.warning("digest for run %s of team %s: no such run", msg.run_id, msg.team_id)
            return
        run_url = f"{self._base_url}/teams/{msg.team_id}/runs/{msg.run_id}"  # the dashboard's run page
        rendered = render_digest(
            "approved" if msg.approved else msg.kind, run["team_name"], run_url, run["summary"], run["counts"]
        )
        await self._to_admins(
            msg.team_id,
            f"run {msg.run_id}",
            "digest",
            rendered,
            lambda member: digest_key(msg.run_id, msg.kind, member),
        )

    async def _to_admins(
        self, team_id: str, about: str, kind: str, rendered: Rendered, key_of: Callable[[str], str]
    ) -> None:
        """Send ``rendered`` to each admin of the team once, under the sent-log key ``key_of`` gives for the
        admin's member id.

        Nothing but the message keeps such an email: one the server would not take for the whole window
        leaves the message to be delivered again (the bus backs off between deliveries), and the admins who
        have theirs are not sent it twice. The admins after it get one attempt each meanwhile: a mailbox that
        refuses for now must not keep the others waiting, and a server that is down must not hold the message
        past the broker's acknowledgement timeout."""
        waiting: list[str] = []
        for admin in await store.team_admins(self.pool, team_id):
            key = key_of(admin["member_id"])
            claimed = await settle(lambda key=key, admin=admin: self.sentlog.claim(key, admin["email"]))
            if claimed is None:
                continue
            try:
                await self._send(
                    kind,
                    claimed,
                    rendered,
                    Person(admin["name"], admin["email"]),
                    retry_for=0.0 if waiting else None,
                )
            except GaveUp as exc:  # named by id, not address: the bus logs what this raises
                waiting.append(f"admin {admin['member_id']}: {exc}")
        if waiting:
            raise DigestWaiting(self.max_backoff, f"the {kind} of {about} waits for " + "; ".join(waiting))

    async def on_webhook_event(self, msg: WebhookEvent) -> None:
        """The event's deliveries, one for each webhook of the team that takes it; sent by ``webhooks``."""
        _checked_ids(msg.team_id, msg.run_id, *msg.member_ids)
        if await make_deliveries(self.pool, msg):
            self.webhooks.wake.set()

    async def on_credential_expiring(self, msg: CredentialExpiring) -> None:
        """Each admin of the team is emailed once for this credential and notice (the sent-log's key)."""
        await _to_its_end(self._credential_notice(msg))

    async def _credential_notice(self, msg: CredentialExpiring) -> None:
        _checked_ids(msg.team_id)
        team = await store.team_name(self.pool, msg.team_id)
        if team is None:
            return
        rendered = render_credential_expiring(
            team,
            msg.credential_type,
            msg.expires_at,
            msg.days,
            msg.thumbprint,
            f"{self._base_url}/teams/{msg.team_id}/directory",
        )
        await self._to_admins(
            msg.team_id,
            f"team {msg.team_id}",
            "credential",
            rendered,
            lambda member: f"credential:{msg.team_id}:{msg.expires_at.timestamp():.0f}:{msg.days}:{member}",
        )

    async def on_run_notice_requested(self, msg: RunNoticeRequested) -> None:
        """Each admin of the team is told once that its syncs fail (at most once a team and day) or work
        again; a redelivery sends nobody anything twice."""
        await _to_its_end(self._run_notice(msg))

    async def _run_notice(self, msg: RunNoticeRequested) -> None:
        _checked_ids(msg.team_id, msg.run_id)
        run = await store.load_ended_run(self.pool, msg.team_id, msg.run_id)
        if run is None:
            log.warning("notice for run %s of team %s: no such run", msg.run_id, msg.team_id)
            return
        since = run["finished_at"].strftime("%d %B %Y at %H:%M UTC") if run["finished_at"] else ""
        rendered = render_notice(
            msg.kind,
            run["team_name"],
            f"{self._base_url}/teams/{msg.team_id}/runs/{msg.run_id}",
            run["error"],
            run["failure_cause"],
            run["trigger"],
            since,
            msg.groups,
        )
        await self._to_admins(
            msg.team_id,
            f"run {msg.run_id}",
            "notice",
            rendered,
            lambda member: notice_key(msg.kind, msg.team_id, msg.run_id, msg.day.isoformat(), member),
        )

    async def _send(
        self,
        kind: str,
        claimed: Claimed,
        rendered: Rendered,
        to: Person,
        *,
        member_id: str | None = None,
        run_id: str | None = None,
        directory_id: str | None = None,
        retry_for: float | None = None,
    ) -> None:
        """Send one claimed email and record how it went; GaveUp once the server stayed unavailable for
        ``retry_for`` seconds (the notifier's window by default), the claim released."""
        key = claimed.lease.key
        try:
            email = compose(rendered, self.settings.mail_from, to, datetime.now(UTC))
            await deliver(
                self.transport,
                email,
                retry_for=self.retry_for if retry_for is None else retry_for,
                max_backoff=self.max_backoff,
                ready=claimed.lease.keep,
            )
        except (BadAddress, PermanentMailError) as exc:
            log.warning("%s email %s failed for good: %s", kind, key, exc)
            metrics.EMAILS.labels(kind, "failed").inc()
            await self.sentlog.failed(
                key, f"the {kind} email could not be delivered: {exc}", member_id, run_id, directory_id
            )
            return
        except LostClaim as exc:
            log.warning("%s: %s", kind, exc)
            return
        except GaveUp as exc:
            await self.sentlog.release(key, f"the {kind} email was not sent: {exc}", member_id)
            raise
        # The server has the email now; until this mark commits, a crash means one duplicate (see above).
        await self.sentlog.sent(key, member_id)
        metrics.EMAILS.labels(kind, "sent").inc()

    async def on_pending_invites_requested(self, msg: PendingInvitesRequested) -> None:
        """Queue the team's pending invites; their InvitesRequested messages send each once. A second request
        finds them queued and queues nothing."""
        _checked_ids(msg.team_id, msg.member_id)
        queued = await send_pending_invites(self.pool, msg.team_id, msg.member_id)
        log.info("team %s: %d pending invites queued on request", msg.team_id, queued)


async def _to_its_end(work: Awaitable[None]) -> None:
    """Await ``work`` in a task of its own, which a cancellation of the caller leaves running.

    The bus's handlers in hand are cancelled when its connection to the broker goes. An email claimed and
    stopped there would wait out its lease (the claim is committed in a batch of its own), and one stopped
    between the server's "250 OK" and its mark would go again after it; run to its end, the email is sent and
    recorded, and the message delivered again finds it so (or waits for its mark)."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieved)
    await asyncio.shield(task)


def _retrieved(task: asyncio.Future[None]) -> None:
    """Read the outcome of a task whose caller may be gone: what it did is in the sent-log and the logs."""
    if not task.cancelled():
        task.exception()
