from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_serializer, field_validator

from shared.config import UNLISTABLE, CustomMapping, RemovalGuard, SyncConfig, unlistable_sources

_NEXT_RUN = "read-only: when the next scheduled run starts (UTC); null when the cadence is off"


class ConfigIn(SyncConfig):
    next_run_at: datetime | None = Field(default=None, description=_NEXT_RUN + "; ignored on save")

    @field_validator("custom_mappings")
    @classmethod
    def _listable_sources(cls, v: list[CustomMapping]) -> list[CustomMapping]:
        if bad := unlistable_sources(v):
            raise ValueError("; ".join(bad) + f": {UNLISTABLE}")
        return v

    def config(self) -> SyncConfig:
        return SyncConfig.model_validate(self.model_dump(exclude={"next_run_at"}))


class RemovalGuardOut(RemovalGuard):
    @field_serializer("max_percent")
    def _whole_percent(self, value: float) -> int | float:
        """A whole percentage reads as the contract writes it: ``20``, not ``20.0``."""
        return int(value) if value.is_integer() else value


class ConfigOut(SyncConfig):
    removal_guard: RemovalGuardOut = Field(default_factory=RemovalGuardOut)
    next_run_at: datetime | None = Field(description=_NEXT_RUN, json_schema_extra={"readOnly": True})
