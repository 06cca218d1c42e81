"""The control API (api.md), served by the scheduler."""

from services.scheduler.api.app import create_app

__all__ = ["create_app"]
