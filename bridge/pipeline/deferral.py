"""`when_muted: defer` on routes without group_by: hold what arrives while muted, send it after.

Events a muted route defers wait in one group record per route, due when the mute ends; the
group flusher then releases each alert's latest state through dedupe, in one message per
recipient. An alert that fired and resolved while held is dropped unless the recipient had been
told it fires (then the resolution is news). While a hold waits for its release, later events of
the route join it even once the mute has ended, so the release always carries the latest state.
"""

from __future__ import annotations

import functools

import structlog

from bridge.metrics import Metrics
from bridge.model import Event, Notification, Webhook
from bridge.pipeline.dedupe import (
    DedupeDecision,
    DedupeHistory,
    decide_on_route,
    dedupe_key,
    dedupe_status,
    read_histories,
    stage_resolution,
    stage_sent,
)
from bridge.pipeline.flapping import hold_flapping
from bridge.pipeline.grouping import (
    GROUP_KIND,
    GROUP_TTL,
    GroupAlert,
    GroupState,
    RenderForRecipient,
    add_event,
    group_from_record,
    group_to_record,
    new_group,
    record_key,
)
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routing.router import Route
from bridge.store.base import Store

log = structlog.get_logger("alertbridge.pipeline")


def deferred_key(route: str) -> str:
    """Group key of the hold for what an ungrouped route deferred while muted."""
    return f"{route}|deferred"


def defers(route: Route) -> bool:
    """Whether the route holds muted events in a deferred hold (grouped routes hold them in
    their groups instead)."""
    return (
        not route.grouped
        and route.when_muted == "defer"
        and bool(route.active_time_intervals or route.mute_time_intervals)
    )


async def pending_hold(store: Store, route: Route, now: float) -> GroupState | None:
    """The route's deferred hold, if one still waits for its release."""
    doc = await store.get_record(GROUP_KIND, record_key(route.name, deferred_key(route.name)), now)
    return group_from_record(doc) if doc is not None else None


async def hold_deferred(
    store: Store,
    staged: StagedWrites,
    metrics: Metrics,
    route: Route,
    events: list[Event],
    webhook: Webhook,
    *,
    release_at: float | None,
    now: float,
) -> GroupState:
    """Add the events to the route's deferred hold (opened when there is none); `release_at`
    moves the release (the end of the mute), None keeps the hold's."""
    key = deferred_key(route.name)
    rkey = record_key(route.name, key)
    doc = await staged.read_record(store, GROUP_KIND, rkey, now)
    if doc is not None:
        group = group_from_record(doc)
    else:
        group = new_group(route, key, {}, webhook, now, route.group_interval)
        group.deferred = True
    if release_at is not None:
        group.next_flush_at = release_at
    for event in events:
        add_event(group, event, now)
    staged.put_record(GROUP_KIND, rkey, group_to_record(group), now + GROUP_TTL)
    counter = metrics.suppressed.labels(route.name, "deferred")
    staged.on_commit(functools.partial(counter.inc, len(events)))
    report = functools.partial(
        log.info,
        "events.deferred",
        route=route.name,
        fingerprints=[e.fingerprint for e in events],
        group=key,
        release_at=group.next_flush_at,
    )
    staged.on_commit(report)
    return group


def release_decision(
    alert: GroupAlert, history: DedupeHistory, route: Route, now: float
) -> DedupeDecision:
    """Whether a held alert's latest state goes to a recipient when the hold is released."""
    event = alert.event
    fired_while_held = event.status == "resolved" and alert.transitions > 0
    if fired_while_held and not history.told_firing:
        return DedupeDecision(False, "resolved_while_muted")
    return decide_on_route(event, history, route, now)


async def release_deferred(
    group: GroupState,
    route: Route,
    store: Store,
    render: RenderForRecipient,
    staged: StagedWrites,
    metrics: Metrics,
    now: float,
) -> list[Notification]:
    """The hold's messages, one per recipient with what is still news to them; the dedupe
    entries are staged with them, so a later repeat of the same state is deduped."""
    histories = await read_histories(
        store,
        ((route.name, rcpt.name, fp) for rcpt in route.recipients for fp in group.alerts),
        now,
    )
    flaps = group.flaps()
    notifications: list[Notification] = []
    for rcpt in route.recipients:
        events: list[Event] = []
        for fp, alert in group.alerts.items():
            history = histories[(route.name, rcpt.name, fp)]
            decision = release_decision(alert, history, route, now)
            if decision.send:
                events.append(alert.event)
                continue
            if decision.reason == "flapping":  # as at ingest: the flap hold reports it
                event = alert.event
                hold = await hold_flapping(
                    store,
                    staged,
                    metrics,
                    route,
                    rcpt,
                    event,
                    group.webhook_for([event]),
                    already_holding=history.holding,
                    now=now,
                )
                staged.flush_at[hold.record_key] = hold.next_flush_at
                continue
            reason = decision.reason or "duplicate"
            if reason == "resolved_while_muted":
                staged.on_commit(metrics.suppressed.labels(route.name, reason).inc)
            else:
                staged.on_commit(metrics.dedupe_suppressed.labels(route.name, reason).inc)
            report = functools.partial(
                log.info,
                "deferred.not_sent",
                route=route.name,
                recipient=rcpt.name,
                fingerprint=fp,
                status=alert.status,
                reason=reason,
                key=dedupe_key(route.name, rcpt.name, fp, dedupe_status(alert.event)),
                earlier=decision.earlier,
            )
            staged.on_commit(report)
            if reason == "resolved_not_wanted":
                stage_resolution(staged, route, rcpt.name, fp, now)
        if not events:
            continue
        shown = {e.fingerprint: flaps[e.fingerprint] for e in events if e.fingerprint in flaps}
        sent = render(rcpt, events, shown)
        notifications.extend(sent)
        stage_sent(staged, route, rcpt.name, events, sent[0].id, now)
        staged.on_commit(metrics.groups_flushed.labels(route.name, "deferred").inc)
        report = functools.partial(
            log.info,
            "deferred.released",
            route=route.name,
            recipient=rcpt.name,
            notifications=[n.id for n in sent],
            alerts=len(events),
        )
        staged.on_commit(report)
    return notifications
