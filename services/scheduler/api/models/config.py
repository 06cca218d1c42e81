from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.config import SyncConfig

_NEXT_RUN = "read-only: when the next scheduled run starts (UTC); null when the cadence is off"


class ConfigIn(SyncConfig):
    next_run_at: datetime | None = Field(default=None, description=_NEXT_RUN + "; ignored on save")

    def config(self) -> SyncConfig:
        return SyncConfig.model_validate(self.model_dump(exclude={"next_run_at"}))


class ConfigOut(SyncConfig):
    next_run_at: datetime | None = Field(description=_NEXT_RUN, json_schema_extra={"readOnly": True})
