"""The tenant's record of directory changes, which delta queries read from."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["user", "group"]
Op = Literal["add", "update", "delete", "member_add", "member_remove"]


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    kind: Kind
    object_id: str
    op: Op
    props: frozenset[str] = frozenset()
    member_id: str | None = None
    reason: Literal["changed", "deleted"] | None = None


@dataclass
class ChangeLog:
    entries: list[Change] = field(default_factory=list)
    seq: int = 0

    def record(self, kind: Kind, object_id: str, op: Op, **details: object) -> Change:
        self.seq += 1
        change = Change(self.seq, kind, object_id, op, **details)  # type: ignore[arg-type]
        self.entries.append(change)
        return change

    def since(self, seq: int, kind: Kind) -> list[Change]:
        start = bisect.bisect_right(self.entries, seq, key=lambda c: c.seq)
        return [c for c in self.entries[start:] if c.kind == kind]
