"""`alertbridge explain`: what the bridge would do with a payload now, per route and recipient.

Reads the configured store (dedupe entries, groups, silences, GitHub open failures, the outbox)
and changes nothing: answers "why did I (not) get it" with sent / deduped (by which notification,
when, and what became of it) / grouped (until which flush) / flapping (until when) / muted /
silenced / not sent (why). It runs ingest's own stages: the GitHub outcome step (staged, never
committed), dedupe, and for a resolved alert of a grouped route the flush decision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.commands.store_file import store_file
from bridge.model import Event
from bridge.pipeline.dedupe import (
    NO_OUTCOME,
    PASSED,
    decide_on_route,
    dedupe_status,
    read_histories,
)
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
    told_once,
)
from bridge.pipeline.mute import route_mute_state
from bridge.pipeline.outcomes import settle_outcomes
from bridge.pipeline.routed import route_webhook
from bridge.pipeline.silences import list_silences, silenced_by
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routes_test import parse_payload
from bridge.routing.router import Route
from bridge.routing.time_intervals import TimeInterval
from bridge.runtime import Runtime
from bridge.store.base import DELIVERED_STATUSES, Store

# How far ahead the mute stage looks for a mute's end (time_intervals.DEFAULT_HORIZON).
NO_END = "no end within four years"


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
    routed, _ = route_webhook(runtime.routes, webhook)
    taken = {id(event) for r in routed for event in r.events}
    unrouted = [_named(e) for e in webhook.events if id(e) not in taken]
    silences = await list_silences(store, moment, include_expired=False)
    report: dict[str, Any] = {
        "source": source,
        "unrouted_events": len(unrouted),
        "unrouted": unrouted,
        "routes": [],
    }
    for r in routed:
        route = r.route
        mute = route_mute_state(route, runtime.time_intervals, moment)
        # A deferred hold waiting for its release takes the route's events even once unmuted.
        hold = await pending_hold(store, route, now) if defers(route) else None
        verdicts: list[dict[str, Any]] = []
        for rcpt in route.recipients:
            for event in r.events:
                verdict = await _verdict(store, route, rcpt.name, event, now)
                if verdict["verdict"] == "deduped" and verdict.get("by"):
                    verdict["by_notification"] = await _outbox_entry(store, verdict["by"])
                elif verdict["verdict"] == "flapping":
                    reports_at = await _hold_end(
                        store, route, event, hold, runtime.time_intervals, now
                    )
                    # No hold yet: this event opens one, which reports after flap_window.
                    verdict["reports_at"] = reports_at or _report_time(
                        route, now + route.flap_window, runtime.time_intervals
                    )
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
    return _report_time(route, due, intervals)


def _report_time(route: Route, due: float, intervals: Mapping[str, TimeInterval]) -> str | None:
    """When a hold due at `due` reports: then, or after the mute it falls in."""
    mute = route_mute_state(route, intervals, datetime.fromtimestamp(due, UTC))
    if mute.muted and mute.until is not None:
        return f"the end of the route's mute ({mute.until.isoformat()}) or soon after"
    return _when(due)


async def _outbox_entry(
    store: Store, notification_id: str, *, follow: bool = True
) -> dict[str, Any] | None:
    """What became of a notification an event was deduped by: its state, Blueticks' delivery
    status, and the notification that carries it on (a digest, or a failed delivery's resend);
    None when it is no longer in the outbox (purged after store.retention)."""
    found = await store.get_notification(notification_id)
    if found is None:
        return None
    entry: dict[str, Any] = {
        "id": found.id,
        "state": found.state,
        "delivery_status": found.delivery_status,
    }
    if found.merged_into and follow:
        entry["carried_by"] = found.merged_into
        entry["carrier"] = await _outbox_entry(store, found.merged_into, follow=False)
    return entry


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
            told = {
                "verdict": "deduped",
                "by": notified.notification_id,
                "at": _when(notified.at),
                "group": key,
            }
            everyone = [r.name for r in route.recipients]
            if event.fingerprint in told_once(group, everyone):  # GitHub news, never repeated
                return told | {"leaves_group_at": _when(group.next_flush_at)}
            return told | {"repeat_at": _when(notified.at + route.repeat_interval)}
        return {"verdict": "grouped", "group": key, "flush_at": _when(group.next_flush_at)}
    alert = (route.name, recipient, event.fingerprint)
    history = (await read_histories(store, [alert], now))[alert]
    decision = decide_on_route(event, history, route, now)
    if decision.send:
        return {"verdict": "sent"}
    if decision.reason == "flapping":
        if history.holding:  # decided by the hold's entry, written when the hold began
            return {"verdict": "flapping", "since": _when(decision.earlier_at)}
        # Fired, resolved at earlier_at and firing again within flap_window: a hold opens.
        return {"verdict": "flapping", "since": None, "resolved_at": _when(decision.earlier_at)}
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
                "deduped": f"by notification {v.get('by')} at {v.get('at')}" + _what_became(v),
                "grouped": f"in group {v.get('group')}, flush at {v.get('flush_at')}",
                "flapping": _flapping(v),
                "muted": f"{v.get('reason')} ({_until(v)}): "
                + (
                    f"kept in group {v['group']}, its notifications skipped while muted"
                    if v.get("group")
                    else "dropped"
                ),
                "deferred": f"{v.get('reason')}: held until "
                + (v.get("until") or f"the mute ends ({NO_END})"),
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
        names = ", ".join(f"{e['name']} ({e['fingerprint']})" for e in report["unrouted"])
        lines.append(f"{report['unrouted_events']} event(s) matched no route: {names}")
    return "\n".join(lines)


def _named(event: Event) -> dict[str, str]:
    """An event as the report names it: its alertname (else its title) and fingerprint."""
    name = event.labels.get("alertname") or event.title or event.fingerprint
    return {"name": name, "fingerprint": event.fingerprint}


def _until(v: dict[str, Any]) -> str:
    return f"until {v['until']}" if v.get("until") else NO_END


def _flapping(v: dict[str, Any]) -> str:
    reports = f"the hold reports the alert's latest state at {v.get('reports_at')}"
    if v.get("since"):
        return f"held as flapping since {v['since']}; {reports}"
    return (
        f"would be held as flapping (resolved at {v.get('resolved_at')}, firing again within "
        f"flap_window): a hold opens now and {reports.removeprefix('the hold ')}"
    )


def _what_became(v: dict[str, Any]) -> str:
    """What became of the notification a verdict was deduped by, for the text report."""
    if "by_notification" not in v:
        return ""
    return _outbox_word(v["by_notification"], v["by"])


def _outbox_word(entry: dict[str, Any] | None, notification_id: str) -> str:
    """What follows "deduped by notification X": what became of X (a dead letter, a failed
    delivery: with the command that sends it again), or what carries it on and its fate."""
    if entry is None:
        return ", no longer in the outbox (purged after store.retention)"
    state, delivery = entry["state"], entry["delivery_status"]
    if entry.get("carried_by"):
        lead = (
            "merged into digest" if state == "merged" else "Blueticks reported it failed; resent as"
        )
        return f", {lead} {entry['carried_by']}" + _outbox_word(
            entry["carrier"], entry["carried_by"]
        )
    retry = f": `alertbridge outbox retry --id {notification_id}` sends it again"
    if state == "dead" and delivery in DELIVERED_STATUSES:
        return f", a dead letter Blueticks reported {delivery} after all"
    if state == "dead":
        return f", which is a dead letter (never delivered){retry}"
    if state == "sent" and delivery == "failed":
        return f", which Blueticks reported failed{retry}"
    if state in ("pending", "sending"):
        return f", not sent yet ({state})"
    return f" (Blueticks: {delivery})" if delivery else ""


async def run_explain(
    runtime: Runtime, source: str, body: bytes, github_event: str | None, as_json: bool
) -> str:
    """Open the configured store, explain, close it: the CLI's whole job."""
    # Refused when the state cannot be read (a memory store, no file at store.path): explaining
    # against an empty store would answer "sent" for everything.
    hint = "a memory store's state is in the running bridge only (`routes test` routes without it)"
    store = store_file(runtime.loaded.file, runtime.config.store, memory_hint=hint)
    await store.open()
    try:
        report = await explain(runtime, store, source, body, github_event=github_event)
    finally:
        await store.close()
    return json.dumps(report, indent=2, ensure_ascii=False) if as_json else format_explain(report)


def _told_as_now(notified: Notified, event: Event) -> list[str]:
    """The fingerprints the recipient was told are in the event's state: "CI passed" (a GitHub
    success that ended no failure), "CI queued" (no outcome yet) or firing; nothing for a
    resolved event."""
    if event.status != "firing":
        return []
    status = dedupe_status(event)
    if status == NO_OUTCOME:
        return notified.no_outcome
    return notified.passed if status == PASSED else notified.firing
