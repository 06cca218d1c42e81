from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator

from services.scheduler.api.models.common import In, Out, examples

Event = Literal["member.created", "member.updated", "member.removed", "run.finished"]
_ID = "0c6d5e4f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
_URL = "https://hooks.example.com/cardsync"
_EVENTS = "the events it receives: member.created, member.updated, member.removed, run.finished"


class WebhookIn(In):
    """A URL to send the team's events to, signed (Standard Webhooks) with a secret shown once."""

    model_config = examples({"url": _URL, "events": ["member.created", "run.finished"], "description": "HR"})

    url: str = Field(
        min_length=9,
        max_length=2048,
        description="an https URL on a public host (loopback and private addresses are refused)",
    )
    events: list[Event] = Field(min_length=1, max_length=4, description=_EVENTS)
    description: str = Field(default="", max_length=200, description="what it is for, for people")

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an event may be listed once")
        return value


class WebhookOut(Out):
    """A webhook of the team; its secret is never shown again."""

    model_config = examples(
        {
            "id": _ID,
            "url": _URL,
            "events": ["member.created", "run.finished"],
            "description": "HR",
            "created_at": "2026-05-04T09:30:00Z",
        }
    )

    id: UUID = Field(description="the webhook's id")
    url: str = Field(description="where deliveries go")
    events: list[Event] = Field(description=_EVENTS)
    description: str = Field(description="what it is for")
    created_at: datetime = Field(description="when it was made")


class WebhookCreated(WebhookOut):
    """A webhook just made, with its signing secret (shown once)."""

    model_config = examples(
        {
            "id": _ID,
            "url": _URL,
            "events": ["member.created"],
            "description": "",
            "created_at": "2026-05-04T09:30:00Z",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        }
    )

    secret: str = Field(
        description="the HMAC-SHA256 signing key (whsec_ and base64 of its bytes): check webhook-signature "
        "with it; stored encrypted, shown once"
    )


class WebhooksOut(Out):
    """The team's webhooks."""

    webhooks: list[WebhookOut] = Field(description="oldest first")


class DeliveriesQuery(In):
    """Which deliveries to list."""

    limit: int = Field(default=50, ge=1, le=200, description="the most deliveries to return, newest first")


class DeliveryOut(Out):
    """One event sent (or being sent) to the webhook, and how it went."""

    model_config = examples(
        {
            "id": "5a0f1d2c-3b4a-4c5d-8e6f-7a8b9c0d1e2f",
            "event": "member.created",
            "status": "delivered",
            "attempts": 1,
            "last_status": 200,
            "last_error": None,
            "created_at": "2026-05-04T09:30:00Z",
            "next_attempt_at": None,
            "finished_at": "2026-05-04T09:30:01Z",
        }
    )

    id: UUID = Field(description="the delivery's id, sent as webhook-id on every attempt")
    event: Event = Field(description="the event it carries")
    status: Literal["pending", "delivered", "failed"] = Field(
        description="pending: not delivered yet, retried with backoff; delivered: the receiver answered 2xx; "
        "failed: no attempt succeeded in 24 hours"
    )
    attempts: int = Field(description="attempts made")
    last_status: int | None = Field(description="the receiver's HTTP status at the last attempt")
    last_error: str | None = Field(description="why the last attempt failed")
    created_at: datetime = Field(description="when the event happened")
    next_attempt_at: datetime | None = Field(description="when a pending delivery is tried next")
    finished_at: datetime | None = Field(description="when it was delivered, or given up")


class DeliveriesOut(Out):
    """The webhook's deliveries, newest first."""

    deliveries: list[DeliveryOut] = Field(description="newest first")
