"""The silence and time-mute stages: which events of each route go on, are dropped or deferred.

Silenced events of routes without group_by are dropped. On a muted route without group_by,
events are dropped (`when_muted: drop`) or set aside for a deferred hold (`defer`). Grouped
routes always take their events into their groups, silenced or muted, and leave them out at the
flush only (`GroupFlusher`; as Alertmanager, which keeps updating groups and skips only the
notification): a silenced alert is not repeated, and a resolution that arrives while muted is
then still sent and the group stops repeating the firing. Every drop is counted, logged and
kept in the outcomes (explain).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from bridge.logs import LOGGED_FINGERPRINTS
from bridge.metrics import Metrics
from bridge.model import Event
from bridge.pipeline.dedupe import DedupeDecision
from bridge.pipeline.deferral import defers
from bridge.pipeline.mute import NOT_MUTED, route_mute_state
from bridge.pipeline.results import IngestResult, RoutedEvents
from bridge.pipeline.silences import Silence, silenced_by
from bridge.routing.time_intervals import TimeInterval

log = structlog.get_logger("alertbridge.pipeline")


@dataclass(slots=True)
class Deferring:
    """A muted route's events to hold; `release_at` None keeps the hold's release time."""

    routed: RoutedEvents
    release_at: float | None


def silence_and_mute(
    silences: Sequence[Silence],
    metrics: Metrics,
    routed: list[RoutedEvents],
    intervals: Mapping[str, TimeInterval],
    result: IngestResult,
    now: float,
    *,
    arrived: bool = True,
) -> tuple[list[RoutedEvents], list[Deferring], list[RoutedEvents]]:
    """The events that go on to dedupe or grouping, those to defer, and those a route without
    group_by drops, silenced or muted (they still update a hold of theirs waiting to end);
    `silences` are those not expired at `now`, in `list_silences`' order. Counted only for
    events that just `arrived` (not when routed again after a reload)."""
    moment = datetime.fromtimestamp(now, UTC)
    kept: list[RoutedEvents] = []
    deferring: list[Deferring] = []
    held_back: list[RoutedEvents] = []
    for r in routed:
        route = r.route
        dropped: list[tuple[Event, DedupeDecision]] = []
        passing: list[Event] = []
        for event in r.events:
            silence = silenced_by(event, silences, moment)
            if silence is not None and route.grouped:  # kept in its group, left out at flushes
                if arrived:
                    metrics.suppressed.labels(route.name, "silenced").inc()
                log.info(
                    "event.silenced_in_group",
                    route=route.name,
                    fingerprint=event.fingerprint,
                    silence=silence.id,
                )
                passing.append(event)
            elif silence is not None:
                dropped.append((event, DedupeDecision(False, "silenced", silence.id)))
            else:
                passing.append(event)
        mute = route_mute_state(route, intervals, moment) if passing else NOT_MUTED
        if mute.muted and defers(route):
            release = mute.until.timestamp() if mute.until else now + route.group_interval
            deferring.append(Deferring(RoutedEvents(route, passing), release))
            passing = []
        elif mute.muted and not route.grouped:
            dropped.extend((e, DedupeDecision(False, "muted")) for e in passing)
            passing = []
            log.info("route.muted", route=route.name, reason=mute.reason)
        elif mute.muted:  # kept in its group, which waits: counted now, not at every flush
            held = "deferred" if route.when_muted == "defer" else "muted"
            if arrived:
                metrics.suppressed.labels(route.name, held).inc(len(passing))
            log.info(  # one line, not one per event: Alertmanager re-posts whole groups
                "events.muted_in_group",
                route=route.name,
                events=len(passing),
                fingerprints=[event.fingerprint for event in passing[:LOGGED_FINGERPRINTS]],
                reason=held,
                mute=mute.reason,
            )
        if dropped:
            held_back.append(RoutedEvents(route, [event for event, _ in dropped]))
        for event, decision in dropped:
            reason = decision.reason or "muted"
            if arrived:
                metrics.suppressed.labels(route.name, reason).inc()
            log.info(
                "event.suppressed",
                route=route.name,
                fingerprint=event.fingerprint,
                reason=reason,
                silence=decision.earlier,
            )
        if dropped:
            result.add_dropped(route, dropped)
        if passing:
            kept.append(RoutedEvents(route, passing))
    return kept, deferring, held_back
