"""How each send attempt ended, recorded: the outbox row, the delivery metrics and the log line.

The worker decides what an outcome is (sent, retried, dead); this writes it down. Rows go through
`PendingOutcomeWrites`, so an outcome the store refuses (it is unavailable) is written later,
not lost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import structlog

from bridge.delivery.outcome_writes import PendingOutcomeWrites
from bridge.delivery.sender import SendReceipt
from bridge.errors import TransientDeliveryError
from bridge.logs import first_fingerprints
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.base import Store

log = structlog.get_logger("alertbridge.delivery")


class AttemptOutcomes:
    """Writes, counts and logs the outcome of each attempt the worker makes."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        writes: PendingOutcomeWrites,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.writes = writes
        self.clock = clock

    def response(self, status: int | None) -> None:
        """Count one Blueticks answer by its HTTP status ("error": no answer came)."""
        self.metrics.blueticks_responses.labels(str(status) if status else "error").inc()

    async def sent(self, n: Notification, attempt: int, receipt: SendReceipt, now: float) -> None:
        if receipt.image_refused_status is not None:  # the image, before its link went
            self.response(receipt.image_refused_status)
        self.response(receipt.http_status)
        self.metrics.send_attempts.labels("sent").inc()
        self.metrics.notifications.labels(n.route, "sent").inc()
        self.metrics.delivery_latency.observe(max(0.0, now - n.created_at))
        await self.writes.record(
            n.id,
            functools.partial(
                self.store.mark_sent,
                n.id,
                now=now,
                provider_id=receipt.provider_id,
                provider_status=receipt.status,
            ),
        )
        log.info(
            "notification.sent",
            notification=n.id,
            route=n.route,
            recipient=n.recipient,
            fingerprints=first_fingerprints(n.event_keys),
            alerts=len(n.event_keys),
            attempt=attempt,
            provider_id=receipt.provider_id,
            blueticks_request_id=receipt.request_id,
        )

    async def retry(
        self, n: Notification, attempt: int, exc: TransientDeliveryError, delay: float
    ) -> float:
        """Back to pending, due in `delay` seconds; returns when it is due."""
        due = self.clock() + delay
        await self.writes.record(
            n.id,
            functools.partial(self.store.mark_retry, n.id, error=str(exc), next_attempt_at=due),
        )
        self.metrics.notifications.labels(n.route, "retried").inc()
        log.warning(
            "notification.retry",
            notification=n.id,
            route=n.route,
            recipient=n.recipient,
            fingerprints=first_fingerprints(n.event_keys),
            alerts=len(n.event_keys),
            attempt=attempt,
            delay=round(delay, 3),
            error=str(exc),
            blueticks_request_id=exc.request_id,
        )
        return due

    async def dead(self, n: Notification, reason: str, request_id: str | None) -> None:
        await self.writes.record(
            n.id, functools.partial(self.store.mark_dead, n.id, error=reason, now=self.clock())
        )
        self.metrics.notifications.labels(n.route, "dead").inc()
        log.error(
            "notification.dead",
            notification=n.id,
            route=n.route,
            recipient=n.recipient,
            fingerprints=first_fingerprints(n.event_keys),
            alerts=len(n.event_keys),
            reason=reason,
            blueticks_request_id=request_id,
        )
