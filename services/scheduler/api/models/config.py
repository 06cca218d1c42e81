from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer, field_validator

from services.scheduler.api.models.common import examples
from shared.config import (
    UNLISTABLE,
    AdditionGuard,
    CustomMapping,
    RemovalGuard,
    SyncConfig,
    unlistable_sources,
)

_NEXT_RUN = "read-only: when the next scheduled run starts (UTC); null when the cadence is off"
_TOGGLES = {"sync": True, "overwrite": True}
_EXAMPLE = {
    "groups": [{"id": "0c6d5e4f-0000-4000-8000-00000000000a", "display_name": "popl_users"}],
    "cadence": "daily",
    "at": "03:00",
    "timezone": "Europe/Berlin",
    "fields": {
        name: _TOGGLES for name in ("name", "email", "job_title", "company", "phone", "location", "photo")
    },
    "custom_mappings": [
        {
            "source": "department",
            "fallbacks": [],
            "target": {"kind": "field", "name": "Department"},
            "sync": True,
            "overwrite": True,
        },
        {
            "source": "onPremisesExtensionAttributes.extensionAttribute1",
            "fallbacks": [],
            "target": {"kind": "link", "type": "url", "label": "Calendar"},
            "sync": True,
            "overwrite": False,
        },
    ],
    "delete_on_removal": False,
    "send_invites": True,
    "use_admin_roles": False,
    "remove_disabled_users": True,
    "removal_guard": {"max_percent": 20, "min_count": 10},
    "addition_guard": {"max_count": 2000, "max_percent": 100},
    "scope": {
        "include": [{"attribute": "userType", "op": "eq", "value": "Member"}],
        "exclude": [
            {"attribute": "department", "op": "in", "values": ["Interns", "Contractors"]},
            {"attribute": "userPrincipalName", "op": "endswith", "value": "@partners.contoso.com"},
        ],
    },
    "realtime": False,
    "next_run_at": "2026-11-29T02:00:00Z",
    "realtime_status": {
        "state": "off",
        "reason": "near-real-time sync is off in the configuration",
        "checked_at": None,
    },
}


class ConfigIn(SyncConfig):
    """The whole sync configuration to save; it applies from the next run (R15)."""

    model_config = examples(_EXAMPLE)

    next_run_at: datetime | None = Field(default=None, description=_NEXT_RUN + "; ignored on save")
    realtime_status: Any = Field(default=None, description="read-only; ignored on save")

    @field_validator("custom_mappings")
    @classmethod
    def _listable_sources(cls, v: list[CustomMapping]) -> list[CustomMapping]:
        if bad := unlistable_sources(v):
            raise ValueError("; ".join(bad) + f": {UNLISTABLE}")
        return v

    def config(self) -> SyncConfig:
        return SyncConfig.model_validate(self.model_dump(exclude={"next_run_at", "realtime_status"}))


class RemovalGuardOut(RemovalGuard):
    """Holds a run's removals for an admin's approval when they are too many (R10)."""

    @field_serializer("max_percent")
    def _whole_percent(self, value: float) -> int | float:
        """A whole percentage reads as the contract writes it: ``20``, not ``20.0``."""
        return int(value) if value.is_integer() else value


class AdditionGuardOut(AdditionGuard):
    """Holds a run's new members and their invites for an admin's approval when they are too many."""

    @field_serializer("max_percent")
    def _whole_percent(self, value: float) -> int | float:
        return int(value) if value.is_integer() else value


class RealtimeStatusOut(BaseModel):
    """Whether Graph notifies CardSync of the team's changes (near-real-time sync), and if not, why."""

    state: Literal["off", "pending", "on", "failed"] = Field(
        description="on: Graph notifies of changes; pending: subscribing; failed and off: see reason"
    )
    reason: str | None = Field(description="why it is not on, in words an admin can act on")
    checked_at: datetime | None = Field(description="when the subscriptions were last looked at")


class ConfigOut(SyncConfig):
    """The team's sync configuration (the defaults until one is saved); its version is the ETag header."""

    model_config = examples(_EXAMPLE)

    removal_guard: RemovalGuardOut = Field(
        default_factory=RemovalGuardOut, description="when to hold removals (R10)"
    )
    addition_guard: AdditionGuardOut = Field(
        default_factory=AdditionGuardOut, description="when to hold new members and their invites (R10)"
    )
    next_run_at: datetime | None = Field(description=_NEXT_RUN, json_schema_extra={"readOnly": True})
    realtime_status: RealtimeStatusOut = Field(
        description="read-only: whether near-real-time sync is on, and if not, why",
        json_schema_extra={"readOnly": True},
    )


class ConfigCheckOut(BaseModel):
    """A configuration that would be accepted by a save, as far as it can be told without saving."""

    valid: bool = Field(description="always true: an invalid configuration is a 422 listing every bad field")
