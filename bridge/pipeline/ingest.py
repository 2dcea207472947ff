"""The pipeline, assembled in one place: webhook -> routes -> dedupe | group -> render -> outbox.

Routes without group_by send at once (deduped per recipient, fingerprint and status); routes
with group_by hold events in a group record that `bridge/pipeline/flush.py` flushes later.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from bridge.metrics import Metrics
from bridge.model import Event, Notification, Recipient, Webhook
from bridge.pipeline.dedupe import (
    HOLD,
    DedupeDecision,
    DedupeHistory,
    decide,
    dedupe_key,
    history_keys,
)
from bridge.pipeline.grouping import (
    FLAP_TRANSITIONS,
    GROUP_KIND,
    GROUP_TTL,
    GroupState,
    add_event,
    flap_key,
    group_from_record,
    group_key,
    group_to_record,
    new_group,
    record_key,
)
from bridge.pipeline.locks import KeyedLocks
from bridge.pipeline.mute import mute_state
from bridge.pipeline.outcomes import settle_outcomes
from bridge.pipeline.silences import Silence, list_silences, silenced_by
from bridge.render.renderer import Renderer
from bridge.routing.router import Route, match_routes
from bridge.routing.time_intervals import TimeInterval
from bridge.store.base import DedupeEntry, Store

log = structlog.get_logger("alertbridge.pipeline")

# GitHub keeps a delivery's GUID on redelivery, for up to 3 days (30 on older docs).
DELIVERY_TTL = 30 * 86400.0

DedupeWrites = dict[float, dict[str, DedupeEntry]]


@dataclass(slots=True)
class RoutedEvents:
    """The events of one webhook that one route matched, in the order they arrived."""

    route: Route
    events: list[Event]


@dataclass(slots=True)
class RecipientOutcome:
    """What happened for one (route, recipient): sent, held in a group, or why not sent."""

    route: str
    recipient: str
    phone: str
    events: list[Event]
    suppressed: list[tuple[Event, DedupeDecision]] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    template_error: str | None = None
    # Events held in a group (or a flapping alert's hold) until it flushes.
    grouped: list[Event] = field(default_factory=list)
    group: str | None = None
    flush_at: float | None = None

    @property
    def notification(self) -> Notification | None:
        return self.notifications[0] if self.notifications else None


@dataclass(slots=True)
class IngestResult:
    events: int
    duplicate_delivery: bool = False
    outcomes: list[RecipientOutcome] = field(default_factory=list)
    unrouted: int = 0

    @property
    def notifications(self) -> list[Notification]:
        return [n for o in self.outcomes for n in o.notifications]


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


def build_notifications(
    renderer: Renderer,
    route: Route,
    recipient: Recipient,
    events: Sequence[Event],
    webhook: Webhook,
    now: float,
    *,
    flaps: Mapping[str, int] | None = None,
    ids: Callable[[int], str] | None = None,
) -> tuple[list[Notification], str | None]:
    """The message(s) for one recipient's events: one, or numbered parts when the route splits.

    `ids(part)` makes the ids deterministic (group flushes); returns (notifications, template
    error or None)."""
    message = renderer.render(route, events, webhook, flaps=flaps)
    image = next((e.image_url for e in events if e.image_url), None)
    notifications = [
        Notification(
            id=ids(part) if ids is not None else uuid.uuid4().hex,
            route=route.name,
            recipient=recipient.name,
            phone=recipient.phone,
            text=text,
            created_at=now,
            image_url=image if part == 0 else None,
            source=webhook.source,
            next_attempt_at=now,
            event_keys=[(e.fingerprint, e.status) for e in events],
        )
        for part, text in enumerate(message.parts)
    ]
    return notifications, message.error if message.fell_back else None


def lock_keys(routed: Sequence[RoutedEvents]) -> set[str]:
    """The group records an ingest may touch (a flapping alert's hold for ungrouped routes)."""
    keys: set[str] = set()
    for r in routed:
        for event in r.events:
            key = (
                group_key(r.route, event)
                if r.route.grouped
                else flap_key(r.route.name, event.fingerprint)
            )
            keys.add(record_key(r.route.name, key))
    return keys


def _no_schedule(key: str, due: float) -> None:
    """Default for Pipeline.group_scheduled when no flusher runs (tests of ingest alone)."""


class Pipeline:
    """Runs one webhook through every stage and persists the result before returning."""

    def __init__(self, store: Store, metrics: Metrics, locks: KeyedLocks | None = None) -> None:
        self.store = store
        self.metrics = metrics
        # Serialise work per group record (and per ungrouped route+fingerprint), so two HA
        # replicas posting the same alerts at once cannot both pass dedupe, and the flusher
        # never reads a group half-updated.
        self.locks = locks or KeyedLocks()
        # Told about every newly scheduled group flush (the flusher sets it).
        self.group_scheduled: Callable[[str, float], None] = _no_schedule

    async def ingest(
        self,
        webhook: Webhook,
        routes: Sequence[Route],
        renderer: Renderer,
        time_intervals: Mapping[str, TimeInterval] | None = None,
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
        for r in routed:
            self.metrics.route_matches.labels(r.route.name).inc(len(r.events))
        if not routed:
            return result
        routed = await self._silence_and_mute(routed, time_intervals or {}, result, now)
        if not routed:
            return result
        async with self.locks.hold(lock_keys(routed)):
            immediate = [r for r in routed if not r.route.grouped]
            if immediate:
                await self._dedupe_render_enqueue(webhook, immediate, renderer, result, now)
            for r in routed:
                if r.route.grouped:
                    await self._hold_in_groups(webhook, r, result, now)
        return result

    async def _silence_and_mute(
        self,
        routed: list[RoutedEvents],
        intervals: Mapping[str, TimeInterval],
        result: IngestResult,
        now: float,
    ) -> list[RoutedEvents]:
        """Take out silenced events, and muted ones on routes that drop them (counted, logged,
        kept in the outcomes for explain). Grouped routes that defer are muted at flush time."""
        moment = datetime.fromtimestamp(now, UTC)
        silences = await list_silences(self.store, moment, include_expired=False)
        kept: list[RoutedEvents] = []
        for r in routed:
            route = r.route
            dropped: list[tuple[Event, DedupeDecision]] = []
            passing: list[Event] = []
            for event in r.events:
                silence: Silence | None = silenced_by(event, silences, moment)
                if silence is not None:
                    dropped.append((event, DedupeDecision(False, "silenced", silence.id)))
                else:
                    passing.append(event)
            if passing and (route.active_time_intervals or route.mute_time_intervals):
                mute = mute_state(
                    [intervals[n] for n in route.active_time_intervals if n in intervals],
                    [intervals[n] for n in route.mute_time_intervals if n in intervals],
                    moment,
                )
                # Deferring needs a group to hold the events; without group_by they are dropped.
                if mute.muted and not (route.when_muted == "defer" and route.grouped):
                    dropped.extend((e, DedupeDecision(False, "muted")) for e in passing)
                    passing = []
                    log.info("route.muted", route=route.name, reason=mute.reason)
            for event, decision in dropped:
                reason = decision.reason or "muted"
                self.metrics.suppressed.labels(route.name, reason).inc()
                log.info(
                    "event.suppressed",
                    route=route.name,
                    fingerprint=event.fingerprint,
                    reason=reason,
                    silence=decision.earlier,
                )
            if dropped:
                for rcpt in route.recipients:
                    outcome = RecipientOutcome(route.name, rcpt.name, rcpt.phone, [])
                    outcome.suppressed = list(dropped)
                    result.outcomes.append(outcome)
            if passing:
                kept.append(RoutedEvents(route, passing))
        return kept

    async def _dedupe_render_enqueue(
        self,
        webhook: Webhook,
        routed: list[RoutedEvents],
        renderer: Renderer,
        result: IngestResult,
        now: float,
    ) -> None:
        keys = [
            key
            for r in routed
            for rcpt in r.route.recipients
            for e in r.events
            for key in history_keys(r.route.name, rcpt.name, e.fingerprint)
        ]
        last = await self.store.get_dedupe(keys, now)
        writes: DedupeWrites = defaultdict(dict)
        holds: list[tuple[RoutedEvents, Recipient, Event, RecipientOutcome, bool]] = []
        for r in routed:
            route = r.route
            ttl = max(route.dedupe_window, route.flap_window)
            for rcpt in route.recipients:
                outcome = RecipientOutcome(route.name, rcpt.name, rcpt.phone, [])
                result.outcomes.append(outcome)
                for event in r.events:
                    fired, resolved, hold = history_keys(route.name, rcpt.name, event.fingerprint)
                    history = DedupeHistory(last.get(fired), last.get(resolved), last.get(hold))
                    decision = decide(
                        event,
                        history,
                        now=now,
                        window=route.dedupe_window,
                        send_resolved=route.send_resolved,
                        flap_window=route.flap_window,
                    )
                    if decision.send:
                        outcome.events.append(event)
                        continue
                    if decision.reason == "flapping":
                        holds.append((r, rcpt, event, outcome, history.holding))
                        continue
                    outcome.suppressed.append((event, decision))
                    self._count_suppressed(route, rcpt, event, decision)
                    if decision.reason == "resolved_not_wanted":
                        # Remember the resolution, so the next firing is news again.
                        key = dedupe_key(route.name, rcpt.name, event.fingerprint, "resolved")
                        writes[ttl][key] = DedupeEntry("resolved", now)
                if outcome.events:
                    self._render_immediate(renderer, r, rcpt, outcome, webhook, now, writes)
        notifications = result.notifications
        # One transaction: the outbox rows and the dedupe records that point at them.
        await self.store.enqueue(notifications, [(e, ttl) for ttl, e in writes.items()])
        for n in notifications:
            self.metrics.notifications.labels(n.route, "queued").inc()
        for r, rcpt, event, outcome, holding in holds:
            await self._hold_flapping(webhook, r.route, rcpt, event, outcome, holding, now)

    def _render_immediate(
        self,
        renderer: Renderer,
        r: RoutedEvents,
        rcpt: Recipient,
        outcome: RecipientOutcome,
        webhook: Webhook,
        now: float,
        writes: DedupeWrites,
    ) -> None:
        route = r.route
        notifications, error = build_notifications(
            renderer, route, rcpt, outcome.events, webhook, now
        )
        if error is not None:
            outcome.template_error = error
            self.metrics.template_failures.labels(route.name).inc()
            log.warning("template.failed", route=route.name, error=error)
        outcome.notifications = notifications
        ttl = max(route.dedupe_window, route.flap_window)
        for event in outcome.events:
            key = dedupe_key(route.name, rcpt.name, event.fingerprint, event.status)
            writes[ttl][key] = DedupeEntry(event.status, now, notifications[0].id)

    def _count_suppressed(
        self, route: Route, rcpt: Recipient, event: Event, decision: DedupeDecision
    ) -> None:
        reason = decision.reason or "duplicate"
        self.metrics.dedupe_suppressed.labels(route.name, reason).inc()
        log.info(
            "dedupe.suppressed",
            route=route.name,
            recipient=rcpt.name,
            fingerprint=event.fingerprint,
            status=event.status,
            reason=reason,
            key=dedupe_key(route.name, rcpt.name, event.fingerprint, event.status),
            earlier=decision.earlier,
        )

    async def _hold_flapping(
        self,
        webhook: Webhook,
        route: Route,
        rcpt: Recipient,
        event: Event,
        outcome: RecipientOutcome,
        already_holding: bool,
        now: float,
    ) -> None:
        """Hold a flapping alert for flap_window; its flush reports it once, as flapping."""
        key = flap_key(route.name, event.fingerprint)
        rkey = record_key(route.name, key)
        doc = await self.store.get_record(GROUP_KIND, rkey, now)
        group = group_from_record(doc) if doc is not None else None
        if group is None:
            group = new_group(route, key, {}, webhook, now, route.flap_window)
            group.flap = True
            self.group_scheduled(rkey, group.next_flush_at)
        if event.fingerprint not in group.alerts:
            add_event(group, event, now)
            # firing -> resolved -> firing: two changes before the hold began.
            group.alerts[event.fingerprint].transitions = FLAP_TRANSITIONS
        else:
            add_event(group, event, now)
        if rcpt.name not in group.only:
            group.only.append(rcpt.name)
        await self.store.put_record(GROUP_KIND, rkey, group_to_record(group), now + GROUP_TTL)
        if not already_holding:
            hold = dedupe_key(route.name, rcpt.name, event.fingerprint, HOLD)
            await self.store.put_dedupe({hold: DedupeEntry(HOLD, now, rkey)}, 2 * route.flap_window)
        outcome.grouped.append(event)
        outcome.group, outcome.flush_at = key, group.next_flush_at
        self.metrics.suppressed.labels(route.name, "flapping").inc()
        log.info(
            "flapping.held",
            route=route.name,
            recipient=rcpt.name,
            fingerprint=event.fingerprint,
            status=event.status,
            group=key,
            flush_at=group.next_flush_at,
        )

    async def _hold_in_groups(
        self, webhook: Webhook, r: RoutedEvents, result: IngestResult, now: float
    ) -> None:
        """Add the route's events to their groups; the flusher sends them later."""
        route = r.route
        by_group: dict[str, list[Event]] = {}
        for event in r.events:
            by_group.setdefault(group_key(route, event), []).append(event)
        for key, events in by_group.items():
            group = await self._load_or_create(route, key, events[0], webhook, now)
            changed = group.flushes == 0 and not group.alerts
            for event in events:
                changed = add_event(group, event, now) or changed
            if changed:
                rkey = group.record_key
                await self.store.put_record(
                    GROUP_KIND, rkey, group_to_record(group), now + GROUP_TTL
                )
            self.metrics.suppressed.labels(route.name, "grouped").inc(len(events))
            for rcpt in route.recipients:
                outcome = RecipientOutcome(route.name, rcpt.name, rcpt.phone, [])
                outcome.grouped, outcome.group, outcome.flush_at = (
                    list(events),
                    key,
                    group.next_flush_at,
                )
                result.outcomes.append(outcome)
            log.debug("group.updated", route=route.name, group=key, changed=changed)

    async def _load_or_create(
        self, route: Route, key: str, first: Event, webhook: Webhook, now: float
    ) -> GroupState:
        rkey = record_key(route.name, key)
        doc = await self.store.get_record(GROUP_KIND, rkey, now)
        if doc is not None:
            return group_from_record(doc)
        group = new_group(route, key, route.group_labels(first), webhook, now, route.group_wait)
        self.group_scheduled(rkey, group.next_flush_at)
        return group
