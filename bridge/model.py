"""The normalised data every stage passes on: events in, notifications out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["firing", "resolved"]
SourceName = Literal["alertmanager", "grafana", "github"]
SOURCE_NAMES: tuple[SourceName, ...] = ("alertmanager", "grafana", "github")

SEVERITY_RANK = {
    "critical": 0,
    "error": 1,
    "high": 1,
    "warning": 2,
    "medium": 2,
    "info": 3,
    "low": 3,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Event:
    """One problem (or GitHub happening) in the same shape whatever sent it."""

    source: SourceName
    fingerprint: str
    status: Status
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    title: str = ""
    summary: str = ""
    url: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    severity: str = ""
    image_url: str | None = None
    received_at: datetime = field(default_factory=utcnow)
    raw: dict[str, Any] = field(default_factory=dict)
    # GitHub only: "failure" or "success" outcomes; a success is "resolved" only
    # when it ends an earlier failure of the same fingerprint (see pipeline.outcomes).
    outcome: Literal["failure", "success"] | None = None

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK.get(self.severity.lower(), 4)


@dataclass(slots=True)
class Webhook:
    """One parsed request: the events it carries and what identifies the request itself."""

    source: SourceName
    events: list[Event]
    # Sender's grouping key (Alertmanager/Grafana groupKey, GitHub event name).
    group_key: str = ""
    receiver: str = ""
    external_url: str = ""
    # Set when the request itself must be processed at most once (GitHub hook id + delivery).
    delivery_key: str | None = None
    # GitHub event name (push, ping, ...); empty for the alerting sources.
    kind: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Recipient:
    """A person (or WhatsApp chat) to notify: a config name and the E.164 number or JID."""

    name: str
    phone: str


# merged: folded into a digest notification (see Notification.merged_into); never sent itself.
NotificationState = Literal["pending", "sending", "sent", "failed", "dead", "merged"]


@dataclass(slots=True)
class Notification:
    """One WhatsApp message to one recipient: the unit the outbox persists and the sender sends."""

    id: str
    route: str
    recipient: str
    phone: str
    text: str
    created_at: float  # Unix seconds when the webhook was accepted
    image_url: str | None = None
    source: str = ""
    state: NotificationState = "pending"
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    provider_id: str | None = None
    provider_status: str | None = None
    sent_at: float | None = None
    # The events the message carries, as (fingerprint, status) pairs, for explain and digests.
    event_keys: list[tuple[str, str]] = field(default_factory=list)
    # (fingerprint, severity, alertname) of each event, in the order the message lists them: a
    # digest ranks the message by them and names the alerts it has no room to show. Empty for a
    # digest and for rows stored before they were kept.
    event_briefs: list[tuple[str, str, str]] = field(default_factory=list)
    # Blueticks' delivery status from callbacks (pending, confirmed, received, read, failed).
    delivery_status: str | None = None
    delivery_status_at: float | None = None
    # WhatsApp wire key (waMessageKey._serialized) once Blueticks reports it.
    provider_key: str | None = None
    # The notification that carries this one on: the digest it was folded into, or (a sent one
    # Blueticks reported failed) its resend by `outbox retry` (store.base.FAILED_DELIVERY).
    merged_into: str | None = None

    @property
    def never_tried(self) -> bool:
        """No attempt was ever made: not even one that `outbox retry` set back to zero (it
        keeps the last error). Only such a message may be folded into a digest or grow one:
        a tried one may have reached WhatsApp, and v1 refuses its key with another body."""
        return self.attempts == 0 and self.last_error is None

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts, at most 64 characters (Blueticks' limit)."""
        return f"ab-{self.id}"[:64]
