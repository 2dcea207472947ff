"""The pipeline, assembled in one place: webhook -> routes -> silence -> time-mute -> dedupe |
defer | group -> render -> outbox, all of it persisted in one transaction before the reply.

Routes without group_by send at once (deduped per recipient, fingerprint and status, flapping
alerts held: `flapping.py`); muted routes that defer hold events until the mute ends
(`deferral.py`); routes with group_by hold events in a group record that `flush.py` flushes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import structlog

from bridge.metrics import Metrics
from bridge.model import Event, Recipient, Webhook
from bridge.pipeline.dedupe import (
    DedupeDecision,
    decide_on_route,
    decide_rerouted,
    dedupe_key,
    dedupe_status,
    read_histories,
    stage_resolution,
    stage_sent,
    stage_told,
    with_told,
)
from bridge.pipeline.deferral import defers, hold_deferred, pending_hold
from bridge.pipeline.event_record import webhook_to_record
from bridge.pipeline.flapping import hold_flapping
from bridge.pipeline.grouping import (
    GROUP_KIND,
    GROUP_TTL,
    add_event,
    group_from_record,
    group_key,
    group_to_record,
    new_group,
    record_key,
)
from bridge.pipeline.held_back import update_waiting_holds
from bridge.pipeline.locks import KeyedLocks
from bridge.pipeline.notifications import RenderMemo, build_notifications
from bridge.pipeline.outcomes import outcome_lock_keys, settle_outcomes
from bridge.pipeline.reroute import REROUTE_KIND, Told, carry_told, stage_told_events
from bridge.pipeline.results import (
    IngestResult,
    RecipientOutcome,
    RoutedEvents,
    recipient_alerts,
)
from bridge.pipeline.routed import lock_keys, log_unrouted, route_webhook
from bridge.pipeline.silence_cache import SilenceCache
from bridge.pipeline.silence_mute import Deferring, silence_and_mute
from bridge.pipeline.silences import Silence, list_silences
from bridge.pipeline.staged_writes import StagedWrites
from bridge.render.renderer import Renderer
from bridge.routing.router import Route, match_routes
from bridge.routing.time_intervals import TimeInterval
from bridge.store.base import Store

__all__ = ["IngestResult", "Pipeline", "RecipientOutcome", "RoutedEvents", "route_webhook"]

log = structlog.get_logger("alertbridge.pipeline")

# GitHub keeps a delivery's GUID on redelivery, for up to 3 days (30 on older docs).
DELIVERY_KIND = "gh-delivery"
DELIVERY_TTL = 30 * 86400.0


def _no_schedule(key: str, due: float) -> None:
    """Default for Pipeline.group_scheduled when no flusher runs (tests of ingest alone)."""


class Pipeline:
    """Runs one webhook through every stage and persists the result before returning."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        locks: KeyedLocks | None = None,
        clock: Callable[[], float] = time.time,
        silences: SilenceCache | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        # Serialise work per group record (and per ungrouped route+fingerprint), so two HA
        # replicas posting the same alerts at once cannot both pass dedupe, and the flusher
        # never reads a group half-updated.
        self.locks = locks or KeyedLocks()
        self._clock = clock
        # Told about every scheduled group flush once it is committed (the flusher sets it).
        self.group_scheduled: Callable[[str, float], None] = _no_schedule
        # The bridge's in-memory silences; without one, every ingest reads them from the store.
        self.silences = silences

    async def active_silences(self, now: float) -> list[Silence]:
        """The silences not expired at `now`, in the order `silenced_by` tries them."""
        moment = datetime.fromtimestamp(now, UTC)
        if self.silences is not None:
            return self.silences.current(moment)
        return await list_silences(self.store, moment, include_expired=False)

    async def ingest(
        self,
        webhook: Webhook,
        routes: Sequence[Route],
        renderer: Renderer,
        time_intervals: Mapping[str, TimeInterval] | None = None,
    ) -> IngestResult:
        now = self._clock()
        result = IngestResult(events=len(webhook.events))
        staged = StagedWrites()
        keys = outcome_lock_keys(webhook.events)
        if webhook.delivery_key is not None:
            keys.add(f"{DELIVERY_KIND}:{webhook.delivery_key}")
        async with self.locks.hold(keys):
            if webhook.delivery_key is not None:
                if await self.store.get_record(DELIVERY_KIND, webhook.delivery_key, now):
                    # Counted by the web layer (webhooks_received_total, outcome duplicate).
                    result.duplicate_delivery = True
                    log.info("github.redelivery", delivery=webhook.delivery_key, kind=webhook.kind)
                    return result
                # Committed with the notifications: a delivery is "seen" only once it is kept.
                staged.put_record(
                    DELIVERY_KIND, webhook.delivery_key, {"at": now}, now + DELIVERY_TTL
                )
            return await self._ingest(
                webhook, routes, renderer, time_intervals or {}, result, staged, now
            )

    async def reroute(
        self,
        webhook: Webhook,
        routes: Sequence[Route],
        renderer: Renderer,
        time_intervals: Mapping[str, TimeInterval],
        *,
        set_aside_key: str,
        told: Told,
    ) -> IngestResult:
        """Route again the events of a group a reload orphaned (`reroute.py`), deleting its
        set-aside record in the same transaction. They were counted and their GitHub outcomes
        settled when they first arrived: neither happens twice. An event its own route still
        takes stays on it alone (the others had it when it arrived); the rest go where the
        config now sends them."""
        origin = next((r for r in routes if r.name == told.route), None)

        def routes_for(event: Event) -> list[Route]:
            matched = match_routes(routes, event)
            return [origin] if origin is not None and origin in matched else matched

        now = self._clock()
        staged = StagedWrites()
        staged.delete_record(REROUTE_KIND, set_aside_key)
        result = IngestResult(events=len(webhook.events))
        return await self._ingest(
            webhook, routes, renderer, time_intervals, result, staged, now, told, routes_for
        )

    async def _ingest(
        self,
        webhook: Webhook,
        routes: Sequence[Route],
        renderer: Renderer,
        time_intervals: Mapping[str, TimeInterval],
        result: IngestResult,
        staged: StagedWrites,
        now: float,
        told: Told | None = None,
        routes_for: Callable[[Event], list[Route]] | None = None,
    ) -> IngestResult:
        """`told` and `routes_for`: for events routed again (`reroute`), what their group had
        told whom, and where each goes."""
        arrived = told is None
        if arrived:  # not for events routed again
            # Counted once settled: a GitHub success that ends a failure counts as resolved.
            await settle_outcomes(webhook.events, self.store, staged, now)
            for event in webhook.events:
                self.metrics.events.labels(event.source, event.status).inc()

        routed, result.unrouted = route_webhook(routes, webhook, routes_for)
        if result.unrouted:
            self.metrics.unrouted_events.labels(webhook.source).inc(result.unrouted)
            log_unrouted(webhook, routed)
        if arrived:  # a rerouted event matched its routes when it arrived
            for r in routed:
                self.metrics.route_matches.labels(r.route.name).inc(len(r.events))
        routed, deferring, held_back = silence_and_mute(
            await self.active_silences(now),
            self.metrics,
            routed,
            time_intervals,
            result,
            now,
            arrived=arrived,
        )
        if not routed and not deferring and not held_back:
            await staged.commit(self.store)  # the delivery id and GitHub outcomes, if any
            return result
        holds = [*routed, *(d.routed for d in deferring), *held_back]
        async with self.locks.hold(lock_keys(holds)):
            if held_back:
                await update_waiting_holds(self.store, staged, held_back, now)
            routed = await self._join_waiting_holds(routed, deferring, now)
            if told is not None:  # not sent now: what they heard counts for the release
                held = [*(d.routed for d in deferring), *held_back]
                await stage_told_events(self.store, staged, held, told, now)
            immediate = [r for r in routed if not r.route.grouped]
            if immediate:
                await self._dedupe_and_render(
                    webhook, immediate, renderer, result, staged, now, told
                )
            for deferred in deferring:
                await self._defer(webhook, deferred, result, staged, now)
            for r in routed:
                if r.route.grouped:
                    await self._hold_in_groups(webhook, r, result, staged, now, told)
            # One transaction: outbox rows, the dedupe entries pointing at them, group records.
            await staged.commit(self.store)
        # Each is logged by the request's access line (`notifications`) and when sent or dead
        # (with its route, recipient and fingerprints): one more line per webhook cost 12% of
        # the ingest rate.
        for n in staged.notifications:
            self.metrics.notifications.labels(n.route, "queued").inc()
        for key, due in staged.flush_at.items():
            self.group_scheduled(key, due)
        return result

    async def _join_waiting_holds(
        self, routed: list[RoutedEvents], deferring: list[Deferring], now: float
    ) -> list[RoutedEvents]:
        """Events of a route whose deferred hold still waits for its release join the hold
        (release time kept), so the release never sends an older state after a newer one."""
        kept: list[RoutedEvents] = []
        for r in routed:
            if defers(r.route) and await pending_hold(self.store, r.route, now) is not None:
                deferring.append(Deferring(r, None))
            else:
                kept.append(r)
        return kept

    async def _dedupe_and_render(
        self,
        webhook: Webhook,
        routed: list[RoutedEvents],
        renderer: Renderer,
        result: IngestResult,
        staged: StagedWrites,
        now: float,
        told: Told | None,
    ) -> None:
        """Routes without group_by: dedupe each event per recipient, render what is news.
        `told`: what recipients heard of rerouted events in their group (`reroute.py`)."""
        histories = await read_histories(self.store, recipient_alerts(routed), now)
        for r in routed:
            route = r.route
            rendered: RenderMemo = {}
            for rcpt in route.recipients:
                outcome = RecipientOutcome(route.name, rcpt.name, rcpt.phone, [])
                result.outcomes.append(outcome)
                for event in r.events:
                    history = histories[(route.name, rcpt.name, event.fingerprint)]
                    if told is None:
                        decision = decide_on_route(event, history, route, now)
                    else:
                        heard = told.entry(rcpt.name, event.fingerprint)
                        decision = decide_rerouted(event, history, heard, route, now)
                        newer = heard is not None and with_told(history, heard) is not history
                        if newer and heard is not None and not decision.send:  # later repeats
                            stage_told(staged, route, rcpt.name, event.fingerprint, heard, now)
                    if decision.send:
                        outcome.events.append(event)
                    elif decision.reason == "flapping":
                        group = await hold_flapping(
                            self.store,
                            staged,
                            self.metrics,
                            route,
                            rcpt,
                            event,
                            webhook,
                            already_holding=history.holding,
                            now=now,
                        )
                        outcome.grouped.append(event)
                        outcome.group, outcome.flush_at = group.key, group.next_flush_at
                        staged.flush_at[group.record_key] = group.next_flush_at
                    else:
                        outcome.suppressed.append((event, decision))
                        self._count_suppressed(staged, route, rcpt, event, decision)
                        if decision.reason == "resolved_not_wanted":
                            stage_resolution(staged, route, rcpt.name, event.fingerprint, now)
                if outcome.events:
                    notifications, outcome.template_error = build_notifications(
                        renderer,
                        self.metrics,
                        route,
                        rcpt,
                        outcome.events,
                        webhook,
                        now,
                        rendered=rendered,
                    )
                    outcome.notifications = notifications
                    staged.notifications.extend(notifications)
                    stage_sent(staged, route, rcpt.name, outcome.events, notifications[0].id, now)

    def _count_suppressed(
        self,
        staged: StagedWrites,
        route: Route,
        rcpt: Recipient,
        event: Event,
        decision: DedupeDecision,
    ) -> None:
        """Counted and logged once the ingest commits: a failed one is retried by its sender."""
        reason = decision.reason or "duplicate"
        staged.on_commit(self.metrics.dedupe_suppressed.labels(route.name, reason).inc)
        report = functools.partial(
            log.info,
            "dedupe.suppressed",
            route=route.name,
            recipient=rcpt.name,
            fingerprint=event.fingerprint,
            status=event.status,
            reason=reason,
            key=dedupe_key(route.name, rcpt.name, event.fingerprint, dedupe_status(event)),
            earlier=decision.earlier,
        )
        staged.on_commit(report)

    async def _defer(
        self,
        webhook: Webhook,
        deferred: Deferring,
        result: IngestResult,
        staged: StagedWrites,
        now: float,
    ) -> None:
        """Hold a muted route's events until the mute ends (`when_muted: defer`)."""
        route, events = deferred.routed.route, deferred.routed.events
        group = await hold_deferred(
            self.store,
            staged,
            self.metrics,
            route,
            events,
            webhook,
            release_at=deferred.release_at,
            now=now,
        )
        staged.flush_at[group.record_key] = group.next_flush_at
        result.add_held(route, events, group.key, group.next_flush_at)

    async def _hold_in_groups(
        self,
        webhook: Webhook,
        r: RoutedEvents,
        result: IngestResult,
        staged: StagedWrites,
        now: float,
        told: Told | None,
    ) -> None:
        """Add the route's events to their groups; the flusher sends them later."""
        route = r.route
        by_group: dict[str, list[Event]] = {}
        for event in r.events:
            by_group.setdefault(group_key(route, event), []).append(event)
        for key, events in by_group.items():
            rkey = record_key(route.name, key)
            doc = await self.store.get_record(GROUP_KIND, rkey, now)
            if doc is not None:
                group = group_from_record(doc)
            else:
                labels = route.group_labels(events[0])
                group = new_group(route, key, labels, webhook, now, route.group_wait)
            changed = doc is None
            for event in events:
                changed = add_event(group, event, now) or changed
            if told is not None:
                moved = {e.fingerprint for e in events}
                changed = carry_told(group, told, moved) or changed
            if changed:
                # Templates read `webhook` at the flush: the latest top level, not the first.
                group.webhook = webhook_to_record(webhook)
                staged.put_record(GROUP_KIND, rkey, group_to_record(group), now + GROUP_TTL)
                staged.flush_at[rkey] = group.next_flush_at
            if told is None:  # counted when they arrived, not again when routed again
                grouped = self.metrics.suppressed.labels(route.name, "grouped")
                staged.on_commit(functools.partial(grouped.inc, len(events)))
            result.add_held(route, events, key, group.next_flush_at)
            report = functools.partial(
                log.debug, "group.updated", route=route.name, group=key, changed=changed
            )
            staged.on_commit(report)
