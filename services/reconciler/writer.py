"""Buffering a plan's actions into temporary tables, a chunk at a time, and applying each chunk with set-based
SQL: the chunk's statements go to the database as one batch, which works through them while the caller decides
the next chunk. Removals wait in ``run_actions`` for ``apply.finish``."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson

from services.reconciler import apply
from services.reconciler.identity import Binding
from services.reconciler.model import CARD_COLUMNS, MemberAction
from services.reconciler.plan import preview
from services.reconciler.planner_statistics import LARGE
from shared.config import SyncConfig
from shared.ids import time_ordered_stream
from shared.messages import INVITE_BATCH, InviteRequested, InvitesRequested

TABLES = {
    "user_bindings": "directory_id text, member_id uuid, account_id uuid, skip text",
    "chunk_members": "op text, member_id uuid, account_id uuid, new_account bool, directory_id text,"
    + " login_email text, "
    + ", ".join(f"card_{f} text" for f in CARD_COLUMNS)
    + ", card_fields text, status text, role text, role_from_sync bool, bind bool, invite bool, relogin bool",
    # ``new``: of a member this run creates, whose rows need no conflict handling.
    # ``id``: the link's, should it be inserted (made here: the database's default costs it more time).
    "chunk_links": (
        "id uuid, member_id uuid, source text, type text, label text, value text, position int, new bool"
    ),
    "chunk_subteams": "member_id uuid, group_id text, op text, role text, role_from_sync bool, new bool",
    "plan_entries": "list text, entry text",
    "pairs_to_decide": "seen_id text, member_id uuid",
    # New members whose account another transaction made first (``apply``).
    "accounts_taken": "member_id uuid",
    # Every member action of the run so far, for its removals and its summary.
    "run_actions": apply.DONE,
    # New members held back while the addition guard may hold them (R10's counterpart): their rows as the
    # chunk tables would take them, and their invites as the outbox would.
    "held_members": "LIKE chunk_members",
    "held_links": "LIKE chunk_links",
    "held_subteams": "LIKE chunk_subteams",
    "held_invites": "routing_key text, message_id text, body bytea, member_id uuid",
}
_CHUNK_TABLES = (
    "chunk_members",
    "chunk_links",
    "chunk_subteams",
    "plan_entries",
    "held_members",
    "held_links",
    "held_subteams",
    "held_invites",
)
_HELD = {"chunk_members": "held_members", "chunk_links": "held_links", "chunk_subteams": "held_subteams"}
# Made once per connection and emptied by each commit: creating and dropping nine temporary tables a run
# (their catalog rows, files and round trips) cost a small run more than its members did.
_CREATE = (
    "".join(
        f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS;"
        for name, columns in TABLES.items()
    )
    + "CREATE INDEX IF NOT EXISTS user_bindings_directory_id ON user_bindings (directory_id);"
)
_OUTBOX = ("routing_key", "message_id", "body")
# Keys of MemberAction.changes that live outside the member row.
_NOT_ROW = ("links.",)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class ActionWriter:
    """Buffers actions (``add``) and writes them a chunk at a time (``send``, ``flush``)."""

    def __init__(
        self, conn: asyncpg.Connection, config: SyncConfig, dry_run: bool, team_id: str, run_id: str
    ):
        self.conn = conn
        self.dry_run = dry_run
        self.team_id, self.run_id = team_id, run_id
        self.buffers: dict[str, list[tuple]] = {name: [] for name in _CHUNK_TABLES}
        mappings = [m.target.label for m in config.custom_mappings if m.target.kind == "link"]
        self.positions = {"email": 0, "phone": 1} | {
            f"mapping:{label}": 2 + i for i, label in enumerate(mappings)
        }
        self.statements = ""  # made by ``open``
        self.ids = time_ordered_stream()
        # With send_invites on, the chunk's new members go into the outbox with it, a few InvitesRequested for
        # the chunk; a held new member's InviteRequested waits with its rows (``approve`` lets it in).
        self.send_invites = config.send_invites
        self.invited: list[str] = []
        self.invite: tuple[bytes, ...] | None = None
        # New members go to the held tables instead of the chunk's while this is on (``release_creates``).
        self.hold_creates = False

    def _invite_parts(self) -> tuple[bytes, ...]:
        """A held member's InviteRequested as its model writes it, cut where the member's two ids go (a model
        for each member costs 20 times as much); made at the run's first held invite."""
        if self.invite is None:
            body = InviteRequested(
                message_id="<message>",
                team_id=str(self.team_id),
                member_id="<member>",
                run_id=str(self.run_id),
            ).to_bytes()
            head, rest = body.split(b"<message>")
            self.invite = (head, *rest.split(b"<member>"))
        return self.invite

    async def open(self) -> None:
        await self.conn.execute(_CREATE)
        if not self.dry_run:
            trusted = await apply.may_trust_new_rows(self.conn, self.team_id)
            self.statements = apply.chunk_statements(self.team_id, self.run_id, self.send_invites, trusted)

    async def bind(self, bindings: list[Binding]) -> None:
        rows = [(b.directory_id, b.member_id, b.account_id, b.skip) for b in bindings]
        await self.conn.copy_records_to_table("user_bindings", records=rows)
        if len(rows) >= LARGE:  # a small table is joined well enough without statistics
            await self.conn.execute("ANALYZE user_bindings")

    def add(self, action: MemberAction, current_role: tuple[str, bool] = ("member", False)) -> None:
        if self.dry_run:  # R18: the plan is recorded, nothing applied
            self.buffers["plan_entries"].extend((name, _json(entry)) for name, entry in preview(action))
        elif action.kind in ("create", "update", "remove"):
            self._member(action, current_role)

    def _buffer(self, table: str, held: bool) -> list[tuple]:
        return self.buffers[_HELD[table] if held else table]

    def _member(self, action: MemberAction, current_role: tuple[str, bool]) -> None:
        held = self.hold_creates and action.kind == "create"
        new_account = False
        if action.kind == "create":
            action.member_id = next(self.ids)
            new_account = action.account_id is None
            action.account_id = action.account_id or next(self.ids)
        op = "delete" if action.kind == "remove" and action.hard else action.kind
        row_changed = action.kind != "update" or any(not k.startswith(_NOT_ROW) for k in action.changes)
        if row_changed:
            role = action.role or current_role
            login = action.card.login_email if action.card else None
            self._buffer("chunk_members", held).append(
                (
                    op,
                    action.member_id,
                    action.account_id,
                    new_account,
                    action.directory_id,
                    login,
                    *(action.fields.get(f) for f in CARD_COLUMNS),
                    _json(action.custom),
                    action.status,
                    role[0],
                    role[1],
                    action.bind,
                    action.invite,
                    "login_email" in action.changes,
                )
            )
        if action.invite and action.kind == "create" and self.send_invites:
            if held:
                message_id = next(self.ids)
                head, middle, tail = self._invite_parts()
                body = b"".join((head, message_id.encode(), middle, action.member_id.encode(), tail))
                self.buffers["held_invites"].append(
                    (InviteRequested.routing_key, message_id, body, action.member_id)
                )
            else:
                self.invited.append(action.member_id)
        if action.kind == "remove":
            return  # a removal's places go with it, in ``apply``; held, it keeps them
        member, new = action.member_id, action.kind == "create"
        links = self._buffer("chunk_links", held)
        for source, link in action.links.items():
            links.append(
                (
                    link and next(self.ids),
                    member,
                    source,
                    link and link.type,
                    link and link.label,
                    link and link.value,
                    self.positions.get(source, 99),
                    new,
                )
            )
        subs = self._buffer("chunk_subteams", held)
        subs.extend((member, g, "join", r[0], r[1], new) for g, r in action.join.items())
        subs.extend((member, g, "leave", None, None, new) for g in action.leave)
        subs.extend((member, g, "role", r[0], r[1], new) for g, r in action.subteam_roles.items())

    async def send(self) -> asyncio.Future[str] | None:
        """Copy the buffered chunk in and send its statements; the future is done once they ran. Nothing else
        may use the connection until then (a dry run's chunk needs no statements: None)."""
        for name, rows in self.buffers.items():
            if rows:
                await self.conn.copy_records_to_table(name, records=rows)
                rows.clear()
        if self.invited:
            team, run, ids = str(self.team_id), str(self.run_id), self.invited
            messages = [
                InvitesRequested(team_id=team, run_id=run, member_ids=ids[i : i + INVITE_BATCH])
                for i in range(0, len(ids), INVITE_BATCH)
            ]
            records = [(m.routing_key, m.message_id, m.to_bytes()) for m in messages]
            await self.conn.copy_records_to_table("outbox", columns=_OUTBOX, records=records)
            self.invited = []
        if self.dry_run:
            return None
        running = asyncio.ensure_future(self.conn.execute(self.statements))
        await asyncio.sleep(0)  # the batch leaves now, not at the caller's next await
        return running

    async def flush(self) -> None:
        if (running := await self.send()) is not None:
            await running

    async def release_creates(self) -> None:
        """Apply the new members held back (the guard let them through after all), invites included."""
        await self.flush()
        await self.conn.execute(
            """INSERT INTO chunk_members SELECT * FROM held_members;
               INSERT INTO chunk_links SELECT * FROM held_links;
               INSERT INTO chunk_subteams SELECT * FROM held_subteams;
               INSERT INTO outbox (routing_key, message_id, body)
               SELECT routing_key, message_id, body FROM held_invites;
               TRUNCATE held_members, held_links, held_subteams, held_invites"""
        )
        await self.conn.execute(self.statements)
