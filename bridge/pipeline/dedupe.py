"""Dedupe for routes without group_by: per (route, recipient, fingerprint, status).

A firing is not sent again within the dedupe window; a resolved is sent once for the firing it
ends; firing -> resolved -> firing within the flap window is held and reported once as flapping.
A GitHub success that ends no failure ("CI passed") is deduped under a status of its own,
"passed", and so is a GitHub update with no outcome yet ("CI queued", "Deploy in progress"),
"no_outcome": a failure after either is always news.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bridge.model import Event
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routing.router import Route
from bridge.store.base import DedupeEntry, Store

# (route, recipient, fingerprint): what one dedupe history is about.
AlertFor = tuple[str, str, str]

SuppressReason = Literal[
    "duplicate", "resolved_not_wanted", "flapping", "silenced", "muted", "resolved_while_muted"
]
# The status under which a flapping alert's hold is recorded (entry.at: when it started).
HOLD = "flapping"
# The status under which a GitHub success that ended no remembered failure is recorded.
PASSED = "passed"
# The status under which a GitHub event with no outcome (queued, in progress, cancelled,
# pending) is recorded: it shares the fingerprint of the failure or success that follows.
NO_OUTCOME = "no_outcome"


@dataclass(frozen=True, slots=True)
class DedupeDecision:
    send: bool
    reason: SuppressReason | None = None
    # The notification that already carried this event, when suppressed as a duplicate.
    earlier: str | None = None
    earlier_at: float | None = None


@dataclass(frozen=True, slots=True)
class DedupeHistory:
    """What a recipient was last sent about one alert on one route, by status."""

    firing: DedupeEntry | None = None
    resolved: DedupeEntry | None = None
    hold: DedupeEntry | None = None
    passed: DedupeEntry | None = None
    no_outcome: DedupeEntry | None = None

    @property
    def last(self) -> DedupeEntry | None:
        """The most recent of the entries of what was sent (all but the hold)."""
        sent = (self.firing, self.resolved, self.passed, self.no_outcome)
        entries = [e for e in sent if e is not None]
        return max(entries, key=lambda e: e.at) if entries else None

    @property
    def told_firing(self) -> bool:
        """The recipient's last word on the alert is that it fires (fails, for GitHub)."""
        fired = self.firing
        later = (e for e in (self.resolved, self.passed, self.no_outcome) if e is not None)
        return fired is not None and all(fired.at > e.at for e in later)

    @property
    def holding(self) -> bool:
        """A flap hold started after the last status sent is still waiting to flush."""
        last = self.last
        return self.hold is not None and (last is None or self.hold.at > last.at)


def dedupe_key(route: str, recipient: str, fingerprint: str, status: str) -> str:
    return f"dd:{route}\x1f{recipient}\x1f{fingerprint}\x1f{status}"


def dedupe_status(event: Event) -> str:
    """The status an event is deduped under: its own, PASSED for a GitHub success that ended
    no remembered failure (settle_outcomes left it "firing"), NO_OUTCOME for a GitHub event
    that says nothing about health yet ("firing" too, but not a failure)."""
    if event.source != "github" or event.status != "firing":
        return event.status
    if event.outcome == "success":
        return PASSED
    return NO_OUTCOME if event.outcome is None else event.status


def history_keys(route: str, recipient: str, fingerprint: str) -> tuple[str, ...]:
    """The keys of DedupeHistory's fields, in its field order."""
    statuses = ("firing", "resolved", HOLD, PASSED, NO_OUTCOME)
    return tuple(dedupe_key(route, recipient, fingerprint, status) for status in statuses)


def decide(
    event: Event,
    history: DedupeHistory,
    *,
    now: float,
    window: float,
    send_resolved: bool,
    flap_window: float = 0.0,
) -> DedupeDecision:
    """Whether to send `event` now, given what the recipient was sent about it before."""
    fired, resolved = history.firing, history.resolved
    if history.holding:
        return _not_sent("flapping", history.hold)
    status = dedupe_status(event)
    if status == PASSED:
        return _decide_passed(history, now=now, window=window)
    if status == NO_OUTCOME:
        return _decide_no_outcome(history, now=now, window=window)
    if event.status == "resolved":
        if not send_resolved:
            return DedupeDecision(False, "resolved_not_wanted")
        if resolved is not None and (fired is None or resolved.at >= fired.at):
            return _not_sent("duplicate", resolved)  # already ended the last firing
        return DedupeDecision(True)
    if fired is not None and history.told_firing:
        if now - fired.at < window:
            return _not_sent("duplicate", fired)
        return DedupeDecision(True)  # still firing after the window: a reminder
    if (
        fired is not None
        and resolved is not None
        and resolved.at >= fired.at
        and now - fired.at < flap_window
    ):
        return _not_sent("flapping", resolved)
    return DedupeDecision(True)


def decide_rerouted(
    event: Event, history: DedupeHistory, told: DedupeEntry | None, route: Route, now: float
) -> DedupeDecision:
    """decide_on_route for an event routed again after a reload (`reroute.py`): one older than
    the recipient's last word on the alert on this route is not news, whatever the window says;
    what the group it comes from `told` them counts as sent on this route."""
    last = history.last
    if last is not None and last.at >= event.received_at.timestamp():
        return _not_sent("duplicate", last)
    return decide_on_route(event, with_told(history, told), route, now)


def with_told(history: DedupeHistory, told: DedupeEntry | None) -> DedupeHistory:
    """The history with `told` in its status's place, when it is newer than what is there."""
    if told is None:
        return history
    slot = told.status  # "firing", "resolved", PASSED or NO_OUTCOME: DedupeHistory's fields
    known: DedupeEntry | None = getattr(history, slot)
    if known is not None and known.at >= told.at:
        return history
    return dataclasses.replace(history, **{slot: told})


def _decide_passed(history: DedupeHistory, *, now: float, window: float) -> DedupeDecision:
    """A success that ended no failure: a duplicate only while the recipient's last word is
    already that it passes (passed or resolved, not failing, not "in progress") and that word
    is within the window."""
    last = history.last
    if last is None or history.told_firing or last is history.no_outcome:
        return DedupeDecision(True)
    if now - last.at < window:
        return _not_sent("duplicate", last)
    return DedupeDecision(True)


def _decide_no_outcome(history: DedupeHistory, *, now: float, window: float) -> DedupeDecision:
    """An update with no outcome: a duplicate only while the recipient's last word is the same
    kind of update, within the window. After a failure it is news (a re-run started), and the
    failure after it is too (`told_firing` counts it as ending the failure's word)."""
    last = history.last
    if last is not None and last is history.no_outcome and now - last.at < window:
        return _not_sent("duplicate", last)
    return DedupeDecision(True)


def _not_sent(reason: SuppressReason, entry: DedupeEntry | None) -> DedupeDecision:
    if entry is None:
        return DedupeDecision(False, reason)
    return DedupeDecision(False, reason, entry.notification_id, entry.at)


async def read_histories(
    store: Store, alerts: Iterable[AlertFor], now: float
) -> dict[AlertFor, DedupeHistory]:
    """The dedupe history of each (route, recipient, fingerprint), read in one store call."""
    wanted = {alert: history_keys(*alert) for alert in alerts}
    entries = await store.get_dedupe([key for keys in wanted.values() for key in keys], now)
    return {
        alert: DedupeHistory(*(entries.get(key) for key in keys)) for alert, keys in wanted.items()
    }


def dedupe_ttl(route: Route) -> float:
    """How long a route's dedupe entries live: long enough for both of its windows."""
    return max(route.dedupe_window, route.flap_window)


def stage_sent(
    staged: StagedWrites,
    route: Route,
    recipient: str,
    events: Iterable[Event],
    notification_id: str,
    now: float,
) -> None:
    """Stage the entries that make `events` count as sent to the recipient in that notification."""
    for event in events:
        status = dedupe_status(event)
        key = dedupe_key(route.name, recipient, event.fingerprint, status)
        staged.put_dedupe(key, DedupeEntry(status, now, notification_id), dedupe_ttl(route))


def stage_told(
    staged: StagedWrites,
    route: Route,
    recipient: str,
    fingerprint: str,
    told: DedupeEntry,
    now: float,
) -> None:
    """An entry saying the recipient was told `told` of the alert (by the group it was in before
    a reload): dated then, so reminders keep their rhythm, and kept a full window from `now`,
    so an older copy of that state is recognised later too."""
    ttl = max(now - told.at, 0.0) + dedupe_ttl(route)
    staged.put_dedupe(dedupe_key(route.name, recipient, fingerprint, told.status), told, ttl)


def stage_resolution(
    staged: StagedWrites, route: Route, recipient: str, fingerprint: str, now: float
) -> None:
    """Remember a resolution that was not sent, so the next firing is news again."""
    key = dedupe_key(route.name, recipient, fingerprint, "resolved")
    staged.put_dedupe(key, DedupeEntry("resolved", now), dedupe_ttl(route))


def decide_on_route(
    event: Event, history: DedupeHistory, route: Route, now: float
) -> DedupeDecision:
    """`decide` with the route's windows and its send_resolved."""
    return decide(
        event,
        history,
        now=now,
        window=route.dedupe_window,
        send_resolved=route.send_resolved,
        flap_window=route.flap_window,
    )
