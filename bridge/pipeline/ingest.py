"""The pipeline, assembled in one place: webhook -> routes -> dedupe -> render -> outbox."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from bridge.metrics import Metrics
from bridge.model import Event, Notification, Recipient, Webhook
from bridge.pipeline.dedupe import DedupeDecision, decide, dedupe_key
from bridge.pipeline.outcomes import settle_outcomes
from bridge.render.renderer import Renderer
from bridge.routing.router import Route, match_routes
from bridge.store.base import DedupeEntry, Store

log = structlog.get_logger("alertbridge.pipeline")

# GitHub keeps a delivery's GUID on redelivery, for up to 3 days (30 on older docs).
DELIVERY_TTL = 30 * 86400.0


@dataclass(slots=True)
class RoutedEvents:
    """The events of one webhook that one route matched, in the order they arrived."""

    route: Route
    events: list[Event]


@dataclass(slots=True)
class RecipientOutcome:
    """What happened for one (route, recipient): sent, or why each event was not."""

    route: str
    recipient: str
    phone: str
    events: list[Event]
    suppressed: list[tuple[Event, DedupeDecision]] = field(default_factory=list)
    notification: Notification | None = None
    template_error: str | None = None


@dataclass(slots=True)
class IngestResult:
    events: int
    duplicate_delivery: bool = False
    outcomes: list[RecipientOutcome] = field(default_factory=list)
    unrouted: int = 0

    @property
    def notifications(self) -> list[Notification]:
        return [o.notification for o in self.outcomes if o.notification is not None]


def route_webhook(routes: Sequence[Route], webhook: Webhook) -> tuple[list[RoutedEvents], int]:
    """Group the webhook's events by the routes they match; also count the unrouted ones."""
    by_route: dict[str, RoutedEvents] = {}
    unrouted = 0
    for event in webhook.events:
        matched = match_routes(routes, event)
        if not matched:
            unrouted += 1
        for route in matched:
            by_route.setdefault(route.name, RoutedEvents(route, [])).events.append(event)
    return list(by_route.values()), unrouted


def render_notification(
    renderer: Renderer,
    routed: RoutedEvents,
    recipient: Recipient,
    events: list[Event],
    webhook: Webhook,
    accepted_at: float,
) -> tuple[Notification, str | None]:
    """One WhatsApp message for all of one recipient's events of this webhook on this route."""
    message = renderer.render(routed.route, events, webhook)
    image = next((e.image_url for e in events if e.image_url), None)
    notification = Notification(
        id=uuid.uuid4().hex,
        route=routed.route.name,
        recipient=recipient.name,
        phone=recipient.phone,
        text=message.text,
        created_at=accepted_at,
        image_url=image,
        source=webhook.source,
        next_attempt_at=accepted_at,
        event_keys=[(e.fingerprint, e.status) for e in events],
    )
    return notification, message.error if message.fell_back else None


class Pipeline:
    """Runs one webhook through every stage and persists the notifications before returning."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        # Serialises dedupe decisions per sender group, so two HA replicas posting the same
        # group at once cannot both pass the dedupe check.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def ingest(
        self, webhook: Webhook, routes: Sequence[Route], renderer: Renderer
    ) -> IngestResult:
        now = time.time()
        result = IngestResult(events=len(webhook.events))
        if webhook.delivery_key is not None and not await self.store.remember(
            f"delivery:{webhook.delivery_key}", DELIVERY_TTL, now
        ):
            result.duplicate_delivery = True
            self.metrics.dedupe_suppressed.labels("", "github_redelivery").inc()
            return result
        for event in webhook.events:
            self.metrics.events.labels(event.source, event.status).inc()
        await settle_outcomes(webhook.events, self.store, now)

        routed, result.unrouted = route_webhook(routes, webhook)
        if result.unrouted:
            self.metrics.unrouted_events.labels(webhook.source).inc(result.unrouted)
        if not routed:
            return result

        lock_key = webhook.group_key or ",".join(sorted({e.fingerprint for e in webhook.events}))
        lock = self._locks[lock_key]
        async with lock:
            try:
                await self._dedupe_render_enqueue(webhook, routed, renderer, result, now)
            finally:
                if not lock._waiters:  # type: ignore[attr-defined]
                    self._locks.pop(lock_key, None)
        return result

    async def _dedupe_render_enqueue(
        self,
        webhook: Webhook,
        routed: list[RoutedEvents],
        renderer: Renderer,
        result: IngestResult,
        now: float,
    ) -> None:
        keys = [
            dedupe_key(r.route.name, rcpt.name, e.fingerprint)
            for r in routed
            for rcpt in r.route.recipients
            for e in r.events
        ]
        last = await self.store.get_dedupe(keys, now)
        writes: dict[float, dict[str, DedupeEntry]] = defaultdict(dict)
        for r in routed:
            self.metrics.route_matches.labels(r.route.name).inc(len(r.events))
            for rcpt in r.route.recipients:
                outcome = RecipientOutcome(r.route.name, rcpt.name, rcpt.phone, [])
                result.outcomes.append(outcome)
                pending: list[tuple[str, Event]] = []
                for event in r.events:
                    key = dedupe_key(r.route.name, rcpt.name, event.fingerprint)
                    decision = decide(
                        event,
                        last.get(key),
                        now=now,
                        window=r.route.dedupe_window,
                        send_resolved=r.route.send_resolved,
                    )
                    if decision.send:
                        outcome.events.append(event)
                        pending.append((key, event))
                    else:
                        outcome.suppressed.append((event, decision))
                        self.metrics.dedupe_suppressed.labels(r.route.name, decision.reason).inc()
                        if decision.reason == "resolved_not_wanted":
                            # Remember the resolution, so the next firing is news again.
                            writes[r.route.dedupe_window][key] = DedupeEntry("resolved", now)
                if not outcome.events:
                    continue
                notification, error = render_notification(
                    renderer, r, rcpt, outcome.events, webhook, now
                )
                if error is not None:
                    outcome.template_error = error
                    self.metrics.template_failures.labels(r.route.name).inc()
                    log.warning("template.failed", route=r.route.name, error=error)
                outcome.notification = notification
                for key, event in pending:
                    writes[r.route.dedupe_window][key] = DedupeEntry(
                        event.status, now, notification.id
                    )
        notifications = result.notifications
        # One transaction: the outbox rows and the dedupe records that point at them.
        await self.store.enqueue(notifications, [(e, ttl) for ttl, e in writes.items()])
        for n in notifications:
            self.metrics.notifications.labels(n.route, "queued").inc()
