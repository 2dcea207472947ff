"""What a group's flush sends each recipient, and the ids those notifications carry.

The flusher (`flush.py`) decides when a group flushes and commits the result; this module
decides, for each recipient, what that flush tells them (`decide_flush`), leaving out the alerts
a silence holds back, and renders it with ids stable for that one flush.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from datetime import UTC, datetime

import structlog

from bridge.metrics import Metrics
from bridge.model import Event, Notification, Recipient
from bridge.pipeline.grouping import GroupState, Notified, RenderForRecipient, decide_flush
from bridge.pipeline.notifications import RenderMemo, build_notifications
from bridge.pipeline.silences import Silence, silenced_by
from bridge.pipeline.staged_writes import StagedWrites
from bridge.render.renderer import Renderer
from bridge.routing.router import Route

# The flusher's logger: these lines are part of a flush.
log = structlog.get_logger("alertbridge.flush")


def flush_id(record_key: str, opened_at: float, flushes: int, recipient: str, part: int) -> str:
    """Stable for one flush of one group; `opened_at` tells apart a group opened again under
    the same key after it was forgotten (all resolved), whose flushes count from 0 again.

    The parts of one message share created_at, and the outbox sends by (created_at, id): so
    they share a hash prefix and end in the zero-padded part number, to go out in order."""
    digest = hashlib.sha256(f"{record_key}|{opened_at!r}|{flushes}|{recipient}".encode())
    return f"g{digest.hexdigest()[:28]}{part:03d}"


def without_silenced(
    group: GroupState, route: Route, silences: list[Silence], now: float
) -> GroupState:
    """The group as a flush sees it: without the alerts a silence holds back now."""
    moment = datetime.fromtimestamp(now, UTC)
    held = {fp for fp, a in group.alerts.items() if silenced_by(a.event, silences, moment)}
    if not held:
        return group
    # Counted when the events arrived (silence_mute.py), not at every flush.
    log.debug("group.silenced", route=route.name, group=group.key, fingerprints=sorted(held))
    alerts = {fp: a for fp, a in group.alerts.items() if fp not in held}
    return dataclasses.replace(group, alerts=alerts)


def render_group_flush(
    group: GroupState,
    route: Route,
    renderer: Renderer,
    metrics: Metrics,
    now: float,
    rendered: RenderMemo,
    rcpt: Recipient,
    events: list[Event],
    flaps: dict[str, int],
) -> list[Notification]:
    """One recipient's message(s) at this flush of `group`, with ids from `flush_id`; bound
    up to `rendered` it is the `RenderForRecipient` every kind of flush renders with."""
    webhook = group.webhook_for(events)
    key, opened_at, flushes = group.record_key, group.created_at, group.flushes
    notifications, _ = build_notifications(
        renderer,
        metrics,
        route,
        rcpt,
        events,
        webhook,
        now,
        flaps=flaps,
        ids=lambda part: flush_id(key, opened_at, flushes, rcpt.name, part),
        rendered=rendered,
    )
    return notifications


def flush_to_recipients(
    whole: GroupState,
    route: Route,
    render: RenderForRecipient,
    staged: StagedWrites,
    metrics: Metrics,
    silences: list[Silence],
    now: float,
) -> list[Notification]:
    """Each recipient's news since their last message (`decide_flush`). Silenced alerts stay
    in the group but are left out, as Alertmanager's notification pipeline does: nothing is
    sent or repeated for them, and a group all silenced decides nothing. What a recipient
    was told of a silenced alert is kept, so its resolution after the silence is sent.
    Counted and logged once `staged` (the flush's writes) is committed."""
    group = without_silenced(whole, route, silences, now)
    if not group.alerts:
        return []
    silenced = whole.alerts.keys() - group.alerts.keys()
    notifications: list[Notification] = []
    firing, resolved = sorted(group.firing()), sorted(group.resolved())
    passed, no_outcome = sorted(group.passed()), sorted(group.no_outcome())
    # Told as firing, not "CI passed" or "CI queued".
    failing = [fp for fp in firing if fp not in passed and fp not in no_outcome]
    flaps = group.flaps()
    for rcpt in route.recipients:
        decision = decide_flush(
            group,
            group.notified.get(rcpt.name),
            now=now,
            send_resolved=route.send_resolved,
            repeat_interval=route.repeat_interval,
        )
        sent: list[Notification] = []
        if decision.send:
            events = [group.alerts[fp].event for fp in decision.fingerprints]
            shown = {fp: n for fp, n in flaps.items() if fp in decision.fingerprints}
            sent = render(rcpt, events, shown)
            notifications.extend(sent)
            staged.on_commit(metrics.groups_flushed.labels(route.name, decision.reason).inc)
        if decision.record:
            nid = sent[0].id if sent else None
            told = whole.notified.get(rcpt.name)
            kept = Notified([], [], now) if told is None else told
            whole.notified[rcpt.name] = Notified(
                failing + [fp for fp in kept.firing if fp in silenced],
                resolved,
                now,
                nid,
                passed + [fp for fp in kept.passed if fp in silenced],
                no_outcome + [fp for fp in kept.no_outcome if fp in silenced],
            )
        report = functools.partial(
            log.info,
            "group.flushed" if decision.send else "group.unchanged",
            route=route.name,
            group=group.key,
            recipient=rcpt.name,
            reason=decision.reason,
            notifications=[n.id for n in sent],
            alerts=len(decision.fingerprints),
            firing=len(firing),
            resolved=len(resolved),
        )
        staged.on_commit(report)
    return notifications
