"""One run's reconcile, in the caller's transaction: gather, decide with the pure rules, apply, record."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime

import asyncpg

from services.reconciler import apply, member_photos, planner_statistics, rehires, staging, state, unchanged
from services.reconciler.identity import resolve
from services.reconciler.model import MemberAction
from services.reconciler.plan import COUNT_KEYS, plan_hash, plan_moves, tally
from services.reconciler.rules import Context, addition_guard_holds, decide, guard_holds
from services.reconciler.writer import ActionWriter
from shared import db, runs
from shared.config import SyncConfig
from shared.failures import Cause
from shared.messages import AdminDigestRequested, RunApplied, RunNoticeRequested

log = logging.getLogger(__name__)
CHUNK = 5000  # pairs decided (and written) at a time


async def upsert_subteams(conn: asyncpg.Connection, team_id: str, groups: list[dict[str, str]]) -> None:
    """R3: one subteam per synced group, bound to its id, named (and renamed) as the group."""
    await conn.execute(
        """
        INSERT INTO subteams (team_id, name, directory_group_id)
        SELECT $1, g.name, g.id FROM unnest($2::text[], $3::text[]) AS g(id, name)
        ON CONFLICT (team_id, directory_group_id) WHERE directory_group_id IS NOT NULL
        DO UPDATE SET name = EXCLUDED.name WHERE subteams.name IS DISTINCT FROM EXCLUDED.name
        """,
        team_id,
        [g["id"] for g in groups],
        [g["display_name"] for g in groups],
    )


def _decide(
    pair: state.Pair, ctx: Context, writer: ActionWriter, tallies: Counter[str], errors: list[dict[str, str]]
) -> bool:
    """Decide one pair into the writer, the tallies and the errors; return whether it changes (updates,
    removes or skips) a member of the team as the run found it."""
    if pair.skip:
        action = MemberAction("skip", pair.seen.directory_id if pair.seen else None, reason=pair.skip)
        errors.append({"directory_id": action.directory_id or "", "message": pair.skip})
    else:
        action = decide(pair.seen, pair.current, ctx, pair.claim_account, pair.roles)
        card = pair.seen.card if pair.seen else None
        if pair.login_taken and card:  # the user's: the member may be another's it takes over, or none
            errors.append(
                {
                    "directory_id": card.directory_id,
                    "message": f"the login"
                    f" {pair.login_taken} belongs to another account; the member keeps its login",
                }
            )
        if card and card.refused and action.kind in ("create", "update", "unchanged"):
            errors.extend({"directory_id": card.directory_id, "message": m} for m in card.refused.values())
    tally(action, tallies)
    current = pair.current
    writer.add(action, (current.role, current.role_from_sync) if current else ("member", False))
    return (
        current is not None
        and current.managed
        and current.status != "removed"
        and action.kind in ("update", "remove", "skip")
    )


def gone_group_words(group: dict[str, str]) -> str:
    name = f"{group['display_name']} ({group['id']})" if group["display_name"] else group["id"]
    return (
        f"the synced group {name} no longer exists in the directory: its members who are in no other synced"
        " group are kept, not removed, until the sync configuration is saved without it"
    )


async def _gone_groups(
    conn: asyncpg.Connection, team_id: str, config: SyncConfig, gone: frozenset[str]
) -> list[dict[str, str]]:
    """The synced groups gone from the directory, named as their subteams were (else as configured)."""
    if not gone:
        return []
    subteams = dict(
        await conn.fetch(
            "SELECT directory_group_id, name FROM subteams WHERE team_id = $1"
            " AND directory_group_id = ANY($2::text[])",
            team_id,
            list(gone),
        )
    )
    return [
        {"id": g.id, "display_name": subteams.get(g.id) or g.display_name or ""}
        for g in config.groups
        if g.id in gone
    ]


def _missing_groups(run: runs.Run, completion: staging.Completion) -> list[str]:
    """R9: the synced groups a full snapshot lacks, unread for no reason it gave; it removes nobody. (A group
    the directory no longer has is not missing: its members are held, ``rules.target_groups``.)"""
    assert run.config is not None
    seen = {g["id"] for g in completion.groups} | set(completion.gone_groups)
    return [g.display_name or g.id for g in run.config.groups if g.id not in seen]


async def _moved_since_preview(
    conn: asyncpg.Connection, run: runs.Run, ctx: Context, writer: ActionWriter, attempt: str
) -> str | None:
    """R18: a run applying a preview decides every member once without writing (as the preview did) and
    compares the plan; None when it is the preview's, else what moved, in words."""
    preview = await conn.fetchrow("SELECT plan, plan_hash FROM sync_runs WHERE id = $1", run.applies_run)
    if preview is None or preview["plan_hash"] is None:
        return "the preview this run was to apply is gone; nothing was applied: preview again"
    writer.dry_run = True
    pairs = await state.open_pairs(conn, run.id, attempt, ctx, run.team_id)
    rows = await pairs.fetch(CHUNK)
    while rows:
        for record in rows:
            _decide(state.pair(record), ctx, writer, Counter(), [])
        await writer.send()
        rows = await pairs.fetch(CHUNK) if len(rows) == CHUNK else []
    assert run.config is not None
    plan = await apply.preview(conn, run.config.send_invites, False)
    await conn.execute("TRUNCATE plan_entries")
    writer.dry_run = False
    if plan_hash(plan) == preview["plan_hash"]:
        return None
    return (
        f"the directory changed since the preview {run.applies_run}: {plan_moves(preview['plan'], plan)}."
        " Nothing was applied: preview again"
    )


async def reconcile(
    conn: asyncpg.Connection,
    run: runs.Run,
    completion: staging.Completion,
    tallies: Counter[str] | None = None,
) -> int:
    """Apply (or, dry, preview) the run; return how many members it wrote. ``tallies`` counts the members
    decided as it goes (the run's progress)."""
    config = run.config
    if config is None:
        await runs.fail(
            conn, run.id, run.config_error or "the run has no sync configuration", cause=Cause.CONFIGURATION
        )
        return 0
    if completion.mode == "full" and (missing := _missing_groups(run, completion)):
        await runs.fail(
            conn,
            run.id,
            "the directory snapshot is incomplete: it lacks the group(s) "
            + ", ".join(missing)
            + "; nobody was removed",
            cause=Cause.INCOMPLETE,
        )
        return 0
    gone = frozenset(completion.gone_groups) & {g.id for g in config.groups}
    ctx = Context(config, completion.mode, {k: frozenset(v) for k, v in completion.roles.items()}, gone)
    names = {g["id"]: g["display_name"] for g in completion.groups}
    if not run.dry_run:
        await upsert_subteams(
            conn,
            run.team_id,
            # A group gone from the directory keeps its subteam as it was.
            [
                {"id": g.id, "display_name": names.get(g.id, g.display_name)}
                for g in config.groups
                if g.id not in gone
            ],
        )
    # JIT compiling the large set-based statements costs more than it saves; the gathering's hash joins and
    # aggregates over a whole team spill to disk at the default work_mem.
    await conn.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
    writer = ActionWriter(conn, config, run.dry_run, run.team_id, run.id)
    await writer.open()
    started = time.perf_counter()
    seen = await staging.gather(conn, run.id, completion.attempt)
    await staging.add_unreadable(
        conn, {s["id"]: s.get("reason", "") for s in completion.skipped if s.get("id")}
    )
    bindings = list(
        resolve(
            await state.candidates(conn, run.team_id, completion.mode == "full", run.id, completion.attempt)
        )
    )
    await writer.bind(bindings)
    if not run.dry_run:  # R4: the merges the admin is asked about
        await rehires.record(conn, run.team_id, run.id, bindings)
    tallies = Counter() if tallies is None else tallies
    errors = [
        {"directory_id": "", "message": s.get("reason", "")} for s in completion.skipped if not s.get("id")
    ]
    gone_groups = await _gone_groups(conn, run.team_id, config, gone)
    errors.extend({"directory_id": "", "message": gone_group_words(g)} for g in gone_groups)
    tallies["skipped"] += len(errors)
    tallies["unchanged"] += await unchanged.classify(conn, run.id, completion.attempt, run.team_id, ctx)
    # The team as the run found it, its synced members: R10 weighs the removals against it; a delta run's
    # counts start from it (R17).
    managed = await conn.fetchval(
        "SELECT count(*) FROM members WHERE team_id = $1 AND managed AND status <> 'removed'", run.team_id
    )
    changed = 0  # of those members, the ones the run updates, removes (held or not) or skips
    large = seen + managed >= planner_statistics.LARGE  # the pairs are at most both sides
    # R10's counterpart for new members: when the users bound to no member could be too many, the new members
    # are held back as they are decided, and applied at the end only if the guard lets them through.
    unbound = await conn.fetchval(
        "SELECT count(*) FROM seen_users u WHERE u.skip IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM members m WHERE m.team_id = $1 AND m.directory_id = u.directory_id)",
        run.team_id,
    )
    writer.hold_creates = addition_guard_holds(unbound, managed, config.addition_guard)
    moved = None
    if run.applies_run and not run.dry_run:
        moved = await _moved_since_preview(conn, run, ctx, writer, completion.attempt)
    if moved is not None:
        await runs.fail(conn, run.id, moved)
        return 0
    pairs = await state.open_pairs(conn, run.id, completion.attempt, ctx, run.team_id, large)
    # A chunk is decided while the database writes the one before: read the next chunk, send the decided one,
    # decide the next.
    rows, writing = await pairs.fetch(CHUNK), None
    try:
        while rows:
            for record in rows:
                changed += _decide(state.pair(record), ctx, writer, tallies, errors)
            if writing is not None:
                await writing
            rows = await pairs.fetch(CHUNK) if len(rows) == CHUNK else []
            writing = await writer.send()
        if writing is not None:
            await writing  # the last chunk's error, should it fail, is the run's
    finally:
        if writing is not None and not writing.done():
            await asyncio.wait([writing])  # the connection is free again (an error has been raised already)
    decided = time.perf_counter()
    if completion.mode == "delta":
        # R17: the counts describe the whole team after the run, however it was read. A delta lists only the
        # users that changed; every other synced member the run left as it was, as a full read of the same
        # directory would find it: unchanged are the members in scope it found, less those it changed. (Its
        # new members and the ones it binds or brings back were not in scope: they count as created, updated.)
        tallies["unchanged"] = managed - changed
    if not config.send_invites:
        tallies["invited"] = 0  # R11: the invites wait, pending, until they are sent on request
    removals = tallies["removed"] + tallies["deleted"]
    held = guard_holds(removals, managed, config.removal_guard)
    if held:
        tallies["removed"] = tallies["deleted"] = 0
    adds_held = addition_guard_holds(tallies["created"], managed, config.addition_guard)
    if adds_held:
        tallies["created"] = tallies["invited"] = 0
    counts = {k: tallies[k] for k in COUNT_KEYS}
    if run.dry_run:
        plan = await apply.preview(conn, config.send_invites, held)
        if adds_held:  # as the removals the guard would hold say so
            for entry in (*plan["create"], *plan["invite"]):
                entry["held"] = True
        if config.scope:
            # R2 scope: whom the rules leave out, each with the rule (a member among them is in "remove" too).
            plan["exclude"] = completion.excluded
            plan["exclude_count"] = completion.excluded_count
        await runs.finish(
            conn, run.id, runs.RunStatus.SUCCEEDED, counts, errors, plan=plan, plan_hash=plan_hash(plan)
        )
        return 0
    await apply.release_holds(conn, run.team_id, run.id)
    if adds_held:
        await apply.hold_additions(conn, run.id)
    elif writer.hold_creates:
        await writer.release_creates()
    if held:
        await apply.hold_removals(conn)
    await apply.finish(conn, run.team_id, run.id)
    await apply.member_events(conn, run.team_id, run.id)
    await member_photos.apply_staged(conn, run.team_id, config)
    summary = await apply.summary(conn)
    if gone_groups:
        summary["gone_groups"] = gone_groups
    # A run whose photos follow the apply ends when they are in (R17), unless it holds removals: an admin's
    # approval ends it then.
    status = runs.RunStatus.PHOTOS if completion.photos else runs.RunStatus.SUCCEEDED
    held = held or adds_held
    await runs.finish(conn, run.id, runs.RunStatus.HELD if held else status, counts, errors, summary=summary)
    # The members exist once this commits: the fetcher checks their photos then.
    messages: list = [RunApplied(team_id=run.team_id, run_id=run.id, photos=completion.photos)]
    if gone_groups:  # the admins hear of it, once a day at most (the notifier's sent-log)
        messages.append(
            RunNoticeRequested(
                team_id=run.team_id,
                run_id=run.id,
                kind="group_gone",
                day=datetime.now(UTC).date(),
                groups=[g["display_name"] or g["id"] for g in gone_groups],
            )
        )
    # R16: one email a run to each admin; a held run's lists who joined and left as well as the held removals.
    if held:
        messages.append(AdminDigestRequested(team_id=run.team_id, run_id=run.id, kind="held"))
    elif summary["added"] or summary["removed"]:
        messages.append(AdminDigestRequested(team_id=run.team_id, run_id=run.id, kind="summary"))
    await db.enqueue(conn, *messages)  # one round trip
    log.info(
        "run %s of team %s: %s%s; decided and written in %.1f s, finished in %.1f s",
        run.id,
        run.team_id,
        counts,
        " (held for an approval)" if held else "",
        decided - started,
        time.perf_counter() - decided,
    )
    return counts["created"] + counts["updated"] + counts["removed"] + counts["deleted"]
