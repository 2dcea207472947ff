"""Applies Blueticks callbacks to the bridge's state: each event once, statuses only forward,
the session state only from events newer than the last one applied.

The decisions are in bridge.delivery.callbacks; this is the I/O around them: the event-id record
that dedupes redeliveries, the lookup of the notification an event is about, the stored status,
the session monitor and the metrics. No network calls, so the endpoint answers well within
Blueticks' 10 s.
"""

from __future__ import annotations

from typing import Literal

import structlog

from bridge.delivery.callbacks import (
    CallbackEvent,
    IgnoredEvent,
    SessionReport,
    StatusReport,
    interpret,
    next_status,
)
from bridge.delivery.session import SessionMonitor
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.base import Store

log = structlog.get_logger("alertbridge.callbacks")

EVENT_RECORD_KIND = "bt-event"
# Blueticks retries a delivery for about 21 h (blueticks.md §C.2); remember ids well past that.
EVENT_RECORD_TTL = 3 * 86_400.0

CallbackOutcome = Literal["accepted", "stale", "duplicate", "unknown_event", "unknown_message"]


class CallbackIntake:
    """Takes parsed callback events; every outcome is answered 2xx, so Blueticks stops retrying."""

    def __init__(self, store: Store, metrics: Metrics, session: SessionMonitor) -> None:
        self.store = store
        self.metrics = metrics
        self.session = session

    async def receive(
        self, event: CallbackEvent, *, notification_id: str | None, now: float
    ) -> CallbackOutcome:
        """Apply one event; `notification_id` is set for a legacy per-notification callback URL.

        Raises StoreUnavailable (the endpoint answers 503 and Blueticks retries later).
        """
        # A legacy body's id is a digest of the body, which can repeat across notifications.
        record_key = f"{notification_id}:{event.id}" if notification_id else event.id
        if await self.store.get_record(EVENT_RECORD_KIND, record_key, now) is not None:
            log.info("callback.duplicate", event_id=event.id, type=event.type)
            return "duplicate"
        meaning = interpret(event)
        outcome: CallbackOutcome
        if notification_id and isinstance(meaning, SessionReport):
            # A per-notification URL is for that message's status reports only: whoever holds
            # it must not be able to move the WhatsApp session state.
            log.warning(
                "callback.ignored",
                event_id=event.id,
                type=event.type,
                reason="a notification's callback URL takes only its status reports",
            )
            outcome = "unknown_event"
        elif isinstance(meaning, SessionReport):
            applied = self.session.observe(meaning.connected, via=event.type, at=event.created_at)
            outcome = "accepted" if applied else "stale"
        elif isinstance(meaning, IgnoredEvent):
            log.info("callback.ignored", event_id=event.id, type=event.type, reason=meaning.reason)
            outcome = "unknown_event"
        else:
            outcome = await self._apply_status(event, meaning, notification_id, now)
        # Written after the effect: a crash in between means a redelivery applies it again,
        # which is harmless because statuses only move forward.
        await self.store.put_record(
            EVENT_RECORD_KIND,
            record_key,
            {"type": event.type, "outcome": outcome},
            expires_at=now + EVENT_RECORD_TTL,
        )
        return outcome

    async def _apply_status(
        self, event: CallbackEvent, report: StatusReport, notification_id: str | None, now: float
    ) -> CallbackOutcome:
        notification = await self._find(report, notification_id)
        if notification is None:
            log.warning(
                "callback.unknown_message",
                event_id=event.id,
                type=event.type,
                provider_id=report.provider_id,
                provider_key=report.provider_key,
                message="no notification has this Blueticks id, wire key or secret; "
                "answered 2xx so Blueticks does not retry",
            )
            return "unknown_message"
        new_key = report.provider_key if notification.provider_key is None else None
        status = next_status(notification.delivery_status, report.status)
        if status is None:
            if new_key and notification.delivery_status:
                await self.store.set_delivery_status(
                    notification.id,
                    status=notification.delivery_status,
                    at=notification.delivery_status_at or now,
                    provider_key=new_key,
                )
            log.info(
                "callback.stale_status",
                notification=notification.id,
                reported=report.status,
                current=notification.delivery_status,
            )
            return "stale"
        at = event.created_at if event.created_at is not None else now
        await self.store.set_delivery_status(
            notification.id, status=status, at=at, provider_key=new_key
        )
        self.metrics.delivery_statuses.labels(status).inc()
        fields = {
            "notification": notification.id,
            "route": notification.route,
            "recipient": notification.recipient,
            "status": status,
            "reported": report.reported,
        }
        if status == "failed":
            # Still 'sent': `outbox list` shows it as a failed delivery, `outbox retry` resends it.
            resend = f"alertbridge outbox retry --id {notification.id}"
            log.warning("delivery.failed", reason=report.failure_reason, resend=resend, **fields)
        else:
            log.info("delivery.status", **fields)
        return "accepted"

    async def _find(self, report: StatusReport, notification_id: str | None) -> Notification | None:
        """By the callback URL's notification, else data.id, the wire key, then `secret`."""
        if notification_id:
            return await self.store.get_notification(notification_id)
        for provider_id, provider_key in ((report.provider_id, None), (None, report.provider_key)):
            if provider_id or provider_key:
                found = await self.store.find_notification(
                    provider_id=provider_id, provider_key=provider_key
                )
                if found is not None:
                    return found
        if report.secret:
            return await self.store.get_notification(report.secret)
        return None
