"""The run's lifecycle (R17) as a table: every pair of states is either a move the services make, or
refused."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import get_args

import pytest

from services.scheduler.api.models.runs import RunStatus as ApiRunStatus
from shared.runs import ACTIVE, ACTIVE_SQL, PUBLIC, TRANSITIONS, RunStatus, allowed

Q, F, R, P, S, X, H = (
    RunStatus.QUEUED,
    RunStatus.FETCHING,
    RunStatus.RECONCILING,
    RunStatus.PHOTOS,
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.HELD,
)
MOVES = {
    (Q, F): "the fetcher takes the run",
    (Q, R): "the reconciler takes a run that reads no directory: an undo, a merge decision",
    (F, F): "a redelivered SyncRequested starts the fetch over",
    (F, R): "the snapshot is whole",
    (R, R): "a redelivered page or completion finds the snapshot whole again",
    (R, S): "applied with no photos to wait for, or previewed when dry",
    (R, P): "applied; the photos the snapshot promised are checked now",
    (P, S): "every photo of the check is stored",
    (P, X): "the photo check stopped short, or stalled",
    (R, H): "the removal guard held the removals",
    (H, R): "an admin approved the held removals",
    (Q, X): "stalled before a fetcher took it",
    (F, X): "the fetch failed, or stalled",
    (R, X): "an incomplete snapshot or an invalid configuration, or stalled",
}
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.mark.parametrize(("old", "new"), list(itertools.product(RunStatus, repeat=2)), ids=str)
def test_every_pair_of_states_is_a_known_move_or_refused(old, new):
    assert allowed(old, new) == ((old, new) in MOVES)


def test_the_table_names_every_state_and_an_ended_run_never_moves():
    assert set(TRANSITIONS) == set(RunStatus)
    assert not TRANSITIONS[S] and not TRANSITIONS[X]
    assert {old for old, new in MOVES if new == X} == set(ACTIVE)


def test_the_active_states_are_the_ones_the_database_allows_one_of_a_team():
    schema = (MIGRATIONS / "0071_run_progress.sql").read_text()
    assert f"ON sync_runs (team_id) WHERE status IN {ACTIVE_SQL};" in schema
    assert ACTIVE_SQL == "('queued', 'fetching', 'reconciling', 'photos')"


def test_the_api_answers_every_state_but_the_wait_for_photos_which_it_shows_as_reconciling():
    assert get_args(ApiRunStatus) == PUBLIC == tuple(s for s in RunStatus if s != P)
