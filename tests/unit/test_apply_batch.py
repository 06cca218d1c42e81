"""The batch that applies a chunk: which of its statements may run without row-by-row foreign key checks."""

from __future__ import annotations

import re

from services.reconciler.apply import chunk_statements

TEAM = "5d1f8f0e-2f4c-4a57-9e8c-6c1d2f0a9b31"


def _statements(trusted: bool) -> list[str]:
    return [" ".join(s.split()) for s in chunk_statements(TEAM, TEAM, True, trusted).split(";\n")]


def test_only_the_new_members_rows_go_in_unchecked_and_the_checks_come_back_after_them():
    statements = _statements(True)
    start = statements.index("SET LOCAL session_replication_role = replica")
    end = statements.index("SET LOCAL session_replication_role = DEFAULT")
    unchecked = statements[start + 1 : end]
    assert [re.match(r"INSERT INTO (\w+)", s).group(1) for s in unchecked] == [
        "links",
        "subteam_members",
        "invites",
    ]
    for statement in unchecked:
        # rows of members the batch itself inserted: never one that may exist already, nor one that can
        # conflict
        assert "t.new" in statement or "op = 'create'" in statement
        assert "NOT t.new" not in statement and "ON CONFLICT" not in statement
    assert end < len(statements) - 1 and statements[-1].startswith("TRUNCATE")
    members = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO members"))
    assert members < start  # the members go in first, checked


def test_without_the_privilege_every_statement_is_checked_and_the_same_rows_are_written():
    checked, trusted = _statements(False), _statements(True)
    assert not any("session_replication_role" in s for s in checked)
    assert checked == [s for s in trusted if "session_replication_role" not in s]
