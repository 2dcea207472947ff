"""Events as JSON documents, so held groups survive a restart in the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from bridge.model import Event, Webhook


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _parse_outcome(value: Any) -> Literal["failure", "success"] | None:
    """A GitHub outcome; None for other sources and for records written before it was kept."""
    if value == "failure":
        return "failure"
    if value == "success":
        return "success"
    return None


def event_to_record(event: Event) -> dict[str, Any]:
    return {
        "source": event.source,
        "fingerprint": event.fingerprint,
        "status": event.status,
        "labels": event.labels,
        "annotations": event.annotations,
        "title": event.title,
        "summary": event.summary,
        "url": event.url,
        "starts_at": _when(event.starts_at),
        "ends_at": _when(event.ends_at),
        "severity": event.severity,
        "image_url": event.image_url,
        "received_at": _when(event.received_at),
        "raw": event.raw,
        # GitHub: the icon ("CI failed" or "passed") and the dedupe status depend on it.
        "outcome": event.outcome,
    }


def event_from_record(doc: dict[str, Any]) -> Event:
    event = Event(
        source=doc["source"],
        fingerprint=doc["fingerprint"],
        status=doc["status"],
        labels=dict(doc.get("labels") or {}),
        annotations=dict(doc.get("annotations") or {}),
        title=doc.get("title", ""),
        summary=doc.get("summary", ""),
        url=doc.get("url", ""),
        starts_at=_parse_when(doc.get("starts_at")),
        ends_at=_parse_when(doc.get("ends_at")),
        severity=doc.get("severity", ""),
        image_url=doc.get("image_url"),
        raw=dict(doc.get("raw") or {}),
        outcome=_parse_outcome(doc.get("outcome")),
    )
    received = _parse_when(doc.get("received_at"))
    if received is not None:
        event.received_at = received
    return event


# The body's top level kept for templates (`webhook.raw`) in a group record, at most this big.
MAX_KEPT_RAW = 16 * 1024


def webhook_to_record(webhook: Webhook) -> dict[str, Any]:
    """What templates read from the webhook, without its events (the group holds those).

    `raw` keeps the body's top level (commonLabels, receiver, ...) but not its `alerts`: each
    event has its own; dropped whole if even that is larger than MAX_KEPT_RAW."""
    top = {key: value for key, value in webhook.raw.items() if key != "alerts"}
    return {
        "source": webhook.source,
        "group_key": webhook.group_key,
        "receiver": webhook.receiver,
        "external_url": webhook.external_url,
        "kind": webhook.kind,
        "raw": top if len(json.dumps(top)) <= MAX_KEPT_RAW else {},
    }


def webhook_from_record(doc: dict[str, Any], events: list[Event]) -> Webhook:
    return Webhook(
        source=doc["source"],
        events=events,
        group_key=doc.get("group_key", ""),
        receiver=doc.get("receiver", ""),
        external_url=doc.get("external_url", ""),
        kind=doc.get("kind", ""),
        raw=dict(doc.get("raw") or {}),
    )
