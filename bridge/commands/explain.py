"""`alertbridge explain`: what the bridge would do with a payload now, per route and recipient.

Reads the configured store (dedupe entries, groups, silences, GitHub open failures) and
changes nothing: answers "why did I (not) get it" with sent / deduped (by which notification,
when) / grouped (until which flush) / flapping / muted / silenced / not sent (why). It runs
ingest's own stages: the GitHub outcome step (staged, never committed), dedupe, and for a
resolved alert of a grouped route the flush decision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.model import Event
from bridge.pipeline.dedupe import PASSED, decide_on_route, dedupe_status, read_histories
from bridge.pipeline.deferral import defers, pending_hold
from bridge.pipeline.grouping import (
    GROUP_KIND,
    GroupState,
    Notified,
    add_event,
    decide_flush,
    flap_key,
    group_from_record,
    group_key,
    record_key,
)
from bridge.pipeline.ingest import route_webhook
from bridge.pipeline.mute import route_mute_state
from bridge.pipeline.outcomes import settle_outcomes
from bridge.pipeline.silences import list_silences, silenced_by
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routes_test import parse_payload
from bridge.routing.router import Route
from bridge.routing.time_intervals import TimeInterval
from bridge.runtime import Runtime
from bridge.store import MemoryStore, build_store
from bridge.store.base import Store


def _when(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


async def explain(
    runtime: Runtime,
    store: Store,
    source: str,
    body: bytes,
    *,
    github_event: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The verdict for every (route, recipient, event) of this payload; reads the store only."""
    now = time.time() if now is None else now
    moment = datetime.fromtimestamp(now, UTC)
    webhook = parse_payload(runtime, source, body, github_event)
    # As ingest: a GitHub success that ends a remembered failure is "resolved". Its writes
    # are staged into a StagedWrites that is never committed, so the store is not changed.
    await settle_outcomes(webhook.events, store, StagedWrites(), now)
    routed, unrouted = route_webhook(runtime.routes, webhook)
    silences = await list_silences(store, moment, include_expired=False)
    report: dict[str, Any] = {"source": source, "unrouted_events": unrouted, "routes": []}
    for r in routed:
        route = r.route
        mute = route_mute_state(route, runtime.time_intervals, moment)
        # A deferred hold waiting for its release takes the route's events even once unmuted.
        hold = await pending_hold(store, route, now) if defers(route) else None
        verdicts: list[dict[str, Any]] = []
        for rcpt in route.recipients:
            for event in r.events:
                verdict = await _verdict(store, route, rcpt.name, event, now)
                silence = silenced_by(event, silences, moment)
                if silence is not None:
                    verdict = {
                        "verdict": "silenced",
                        "by": silence.id,
                        "until": silence.ends_at.isoformat(),
                    }
                    if route.grouped:  # kept in its group; its flushes leave it out
                        verdict["group"] = group_key(route, event)
                    else:  # dropped, but a hold of the alert waiting to end takes it in
                        held_until = await _hold_end(
                            store, route, event, hold, runtime.time_intervals, now
                        )
                        if held_until is not None:
                            verdict["held_until"] = held_until
                elif mute.muted and verdict["verdict"] in ("sent", "grouped"):
                    until = mute.until.isoformat() if mute.until else None
                    kind = "deferred" if route.when_muted == "defer" else "muted"
                    verdict = {"verdict": kind, "reason": mute.reason, "until": until}
                    if route.grouped:  # kept in its group; only the notifications wait
                        verdict["group"] = group_key(route, event)
                elif hold is not None:
                    reason = "joins the deferred hold waiting for its release"
                    verdict = {
                        "verdict": "deferred",
                        "reason": reason,
                        "until": _when(hold.next_flush_at),
                    }
                verdicts.append(
                    {
                        "recipient": rcpt.name,
                        "fingerprint": event.fingerprint,
                        "status": event.status,
                        "title": event.title,
                        **verdict,
                    }
                )
        report["routes"].append({"route": route.name, "verdicts": verdicts})
    return report


async def _hold_end(
    store: Store,
    route: Route,
    event: Event,
    deferred: GroupState | None,
    intervals: Mapping[str, TimeInterval],
    now: float,
) -> str | None:
    """When a hold of this alert waiting to end (its flap hold, the route's deferred hold)
    reports it; None when none waits. A hold due while the route is muted waits for the end
    of the mute (`GroupFlusher._muted`)."""
    if deferred is not None and event.fingerprint in deferred.alerts:
        due = deferred.next_flush_at
    else:
        key = record_key(route.name, flap_key(route.name, event.fingerprint))
        doc = await store.get_record(GROUP_KIND, key, now)
        if doc is None:
            return None
        due = group_from_record(doc).next_flush_at
    mute = route_mute_state(route, intervals, datetime.fromtimestamp(due, UTC))
    if mute.muted and mute.until is not None:
        return f"the end of the route's mute ({mute.until.isoformat()}) or soon after"
    return _when(due)


async def _verdict(
    store: Store, route: Route, recipient: str, event: Event, now: float
) -> dict[str, Any]:
    if route.grouped:
        key = group_key(route, event)
        doc = await store.get_record(GROUP_KIND, record_key(route.name, key), now)
        if doc is None:
            if event.status == "resolved":  # no group: nobody was told it fires
                return _grouped_resolution(route, recipient, event, key, None)
            return {"verdict": "grouped", "group": key, "flush_at": _when(now + route.group_wait)}
        group = group_from_record(doc)
        notified = group.notified.get(recipient)
        if event.status == "resolved":
            return _grouped_resolution(route, recipient, event, key, group)
        if notified is not None and event.fingerprint in _told_as_now(notified, event):
            return {
                "verdict": "deduped",
                "by": notified.notification_id,
                "at": _when(notified.at),
                "group": key,
                "repeat_at": _when(notified.at + route.repeat_interval),
            }
        return {"verdict": "grouped", "group": key, "flush_at": _when(group.next_flush_at)}
    alert = (route.name, recipient, event.fingerprint)
    history = (await read_histories(store, [alert], now))[alert]
    decision = decide_on_route(event, history, route, now)
    if decision.send:
        return {"verdict": "sent"}
    if decision.reason == "flapping":
        return {"verdict": "flapping", "since": _when(decision.earlier_at)}
    if decision.reason == "duplicate":
        return {"verdict": "deduped", "by": decision.earlier, "at": _when(decision.earlier_at)}
    return {"verdict": "not_sent", "reason": decision.reason}


def _grouped_resolution(
    route: Route, recipient: str, event: Event, key: str, group: GroupState | None
) -> dict[str, Any]:
    """A resolved alert of a grouped route: sent at the next flush only if the flush decision
    shows it (send_resolved, and the recipient was told it fires); `group` is a copy read
    from the store, changed here and never written back."""
    if group is not None:
        add_event(group, event, group.next_flush_at)
        decision = decide_flush(
            group,
            group.notified.get(recipient),
            now=group.next_flush_at,
            send_resolved=route.send_resolved,
            repeat_interval=route.repeat_interval,
        )
        if decision.send and event.fingerprint in decision.fingerprints:
            return {"verdict": "grouped", "group": key, "flush_at": _when(group.next_flush_at)}
    reason = "resolved_not_wanted" if not route.send_resolved else "recipient_not_told_firing"
    return {"verdict": "not_sent", "reason": reason, "group": key}


def format_explain(report: dict[str, Any]) -> str:
    lines: list[str] = []
    if not report["routes"]:
        lines.append("no route matches: nothing would be sent")
    for route in report["routes"]:
        lines.append(f"route {route['route']}:")
        for v in route["verdicts"]:
            what = v["verdict"]
            detail = {
                "deduped": f"by notification {v.get('by')} at {v.get('at')}",
                "grouped": f"in group {v.get('group')}, flush at {v.get('flush_at')}",
                "flapping": f"held as flapping since {v.get('since')}",
                "muted": f"{v.get('reason')} (until {v.get('until')}): "
                + (
                    f"kept in group {v['group']}, its notifications skipped while muted"
                    if v.get("group")
                    else "dropped"
                ),
                "deferred": f"{v.get('reason')}: held until {v.get('until')}",
                "silenced": f"by silence {v.get('by')} until {v.get('until')}"
                + (
                    f", kept in group {v['group']}, left out of its flushes"
                    if v.get("group")
                    else ""
                )
                + (
                    f"; its hold reports the alert's latest state at {v['held_until']}"
                    " unless still silenced"
                    if v.get("held_until")
                    else ""
                ),
                "not_sent": str(v.get("reason")),
            }.get(what, "")
            title = v["title"] or v["fingerprint"]
            lines.append(f"  {v['recipient']:12} {v['status']:8} {title}: {what} {detail}".rstrip())
    if report["unrouted_events"]:
        lines.append(f"{report['unrouted_events']} event(s) matched no route")
    return "\n".join(lines)


async def run_explain(
    runtime: Runtime, source: str, body: bytes, github_event: str | None, as_json: bool
) -> str:
    """Open the configured store, explain, close it: the CLI's whole job."""
    settings = runtime.config.store
    # One stat of a local file before any work starts: not worth a thread.
    if settings.backend == "sqlite" and not Path(settings.path).exists():  # noqa: ASYNC240
        # No store file yet means nothing was ever sent: explain against empty state rather
        # than create the file as a side effect.
        store: Store = MemoryStore()
    else:
        store = build_store(settings)
    await store.open()
    try:
        report = await explain(runtime, store, source, body, github_event=github_event)
    finally:
        await store.close()
    return json.dumps(report, indent=2, ensure_ascii=False) if as_json else format_explain(report)


def _told_as_now(notified: Notified, event: Event) -> list[str]:
    """The fingerprints the recipient was told are in the event's state: "CI passed" (a GitHub
    success that ended no failure) or firing; nothing for a resolved event."""
    if event.status != "firing":
        return []
    return notified.passed if dedupe_status(event) == PASSED else notified.firing
