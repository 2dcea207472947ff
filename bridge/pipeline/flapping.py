"""Flapping on routes without group_by: one message that says an alert flapped, not one per change.

When dedupe finds an alert firing again within flap_window of the firing it resolved, ingest
holds it in a group record of its own (for flap_window, for the recipients concerned); every
change meanwhile joins the hold, and the group flusher reports the alert's state then, once:
in one message with the route's other holds that end with it (alerts that flapped together).
A hold never reports a state older than one the recipient was told since it last changed (a
deferred release at the end of a mute, say): the newer word stands.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

import structlog

from bridge.metrics import Metrics
from bridge.model import Event, Notification, Recipient, Webhook
from bridge.pipeline.dedupe import (
    HOLD,
    AlertFor,
    DedupeHistory,
    dedupe_key,
    stage_resolution,
    stage_sent,
)
from bridge.pipeline.grouping import (
    FLAP_TRANSITIONS,
    GROUP_KIND,
    GROUP_TTL,
    GroupAlert,
    GroupState,
    RenderForRecipient,
    add_event,
    flap_key,
    group_from_record,
    group_to_record,
    new_group,
    record_key,
)
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routing.router import Route
from bridge.store.base import DedupeEntry, Store

log = structlog.get_logger("alertbridge.pipeline")

# Flap holds of one route ending this close together (seconds) are reported as one message.
DUE_TOGETHER = 1.0


async def hold_flapping(
    store: Store,
    staged: StagedWrites,
    metrics: Metrics,
    route: Route,
    rcpt: Recipient,
    event: Event,
    webhook: Webhook,
    *,
    already_holding: bool,
    now: float,
) -> GroupState:
    """Put the alert in its flap hold (opened when there is none) for this recipient."""
    key = flap_key(route.name, event.fingerprint)
    rkey = record_key(route.name, key)
    doc = await staged.read_record(store, GROUP_KIND, rkey, now)
    group = group_from_record(doc) if doc is not None else None
    if group is None:
        group = new_group(route, key, {}, webhook, now, route.flap_window)
        group.flap = True
    new_alert = event.fingerprint not in group.alerts
    add_event(group, event, now)
    if new_alert:
        # firing -> resolved -> firing: two changes before the hold began.
        group.alerts[event.fingerprint].transitions = FLAP_TRANSITIONS
    if rcpt.name not in group.only:
        group.only.append(rcpt.name)
    staged.put_record(GROUP_KIND, rkey, group_to_record(group), now + GROUP_TTL)
    if not already_holding:
        hold = dedupe_key(route.name, rcpt.name, event.fingerprint, HOLD)
        staged.put_dedupe(hold, DedupeEntry(HOLD, now, rkey), 2 * route.flap_window)
    staged.on_commit(metrics.suppressed.labels(route.name, "flapping").inc)
    report = functools.partial(
        log.info,
        "flapping.held",
        route=route.name,
        recipient=rcpt.name,
        fingerprint=event.fingerprint,
        status=event.status,
        group=key,
        flush_at=group.next_flush_at,
    )
    staged.on_commit(report)
    return group


async def holds_ending_with(
    store: Store, group: GroupState, now: float, among: Collection[str] | None = None
) -> list[GroupState]:
    """The route's other flap holds that end with `group` (within DUE_TOGETHER): their alerts
    flapped together, so one message reports them all, as their firing and resolution were.
    `among`: only the holds under these store keys."""
    if among is None:
        prefix = record_key(group.route, flap_key(group.route, ""))
        docs = [doc for _, doc in await store.list_records(GROUP_KIND, now, prefix=prefix)]
    else:
        docs = [d for key in among if (d := await store.get_record(GROUP_KIND, key, now))]
    holds = [group_from_record(doc) for doc in docs]
    return [
        hold
        for hold in holds
        if hold.flap
        and hold.route == group.route
        and hold.record_key != group.record_key
        and abs(hold.next_flush_at - group.next_flush_at) <= DUE_TOGETHER
        and _same_sender_group(hold, group)
    ]


def _same_sender_group(a: GroupState, b: GroupState) -> bool:
    """Whether the two holds' alerts came from the same sender's group (source, group key,
    receiver): only those flapped together, and one template and webhook render them all."""
    fields = ("source", "group_key", "receiver", "kind")
    return all(a.webhook.get(name) == b.webhook.get(name) for name in fields)


def flush_flapping(
    groups: list[GroupState],
    route: Route,
    render: RenderForRecipient,
    staged: StagedWrites,
    metrics: Metrics,
    now: float,
    histories: dict[AlertFor, DedupeHistory],
) -> list[Notification]:
    """One message per held recipient over the holds ending together: each alert's state now,
    and that it flapped; the dedupe entries written make that message count as the states
    sent. A route without send_resolved sends nothing for an alert that ended resolved, but
    remembers the resolution (as ingest does), so the next firing is news again.
    `histories`: of each (route, held recipient, alert)."""
    notifications: list[Notification] = []
    for rcpt in route.recipients:
        events: list[Event] = []
        flaps: dict[str, int] = {}
        for group in groups:
            if rcpt.name not in group.only:
                continue
            for alert in group.alerts.values():
                event = alert.event
                told = histories[(route.name, rcpt.name, event.fingerprint)].last
                if told is not None and told.at > alert.changed_at:
                    _not_sent(staged, metrics, route, rcpt, alert, "superseded", told=told.status)
                    continue
                if event.status == "resolved" and not route.send_resolved:
                    stage_resolution(staged, route, rcpt.name, event.fingerprint, now)
                    _not_sent(staged, metrics, route, rcpt, alert, "resolved_not_wanted")
                    continue
                events.append(event)
                flaps[event.fingerprint] = alert.transitions
        if not events:
            continue
        sent = render(rcpt, events, flaps)
        notifications.extend(sent)
        stage_sent(staged, route, rcpt.name, events, sent[0].id, now)
        staged.on_commit(metrics.groups_flushed.labels(route.name, "flapped").inc)
        report = functools.partial(
            log.info,
            "flapping.flushed",
            route=route.name,
            recipient=rcpt.name,
            notifications=[n.id for n in sent],
            fingerprints=[e.fingerprint for e in events],
            statuses=[e.status for e in events],
            changes=list(flaps.values()),
        )
        staged.on_commit(report)
    return notifications


def _not_sent(
    staged: StagedWrites,
    metrics: Metrics,
    route: Route,
    rcpt: Recipient,
    alert: GroupAlert,
    reason: str,
    **more: str,
) -> None:
    """Count and log a held alert not sent to one recipient, and why, once the flush commits."""
    staged.on_commit(metrics.dedupe_suppressed.labels(route.name, reason).inc)
    report = functools.partial(
        log.info,
        "flapping.not_sent",
        route=route.name,
        recipient=rcpt.name,
        fingerprint=alert.event.fingerprint,
        status=alert.event.status,
        reason=reason,
        changes=alert.transitions,
        **more,
    )
    staged.on_commit(report)


def end_hold(
    staged: StagedWrites, route: Route, recipient: str, fingerprint: str, now: float
) -> None:
    """Stage the end of a flap hold that reports nothing (its alert silenced): its HOLD entry
    is replaced by one already expired, so the alert's next event is not held again."""
    key = dedupe_key(route.name, recipient, fingerprint, HOLD)
    staged.put_dedupe(key, DedupeEntry(HOLD, now - 1.0, None), 0.5)
