"""Alert groups (Alertmanager's meaning): which events wait together and what a flush sends.

Everything here is pure: a `GroupState` is loaded from and saved to a store record by the
caller (`bridge/pipeline/ingest.py` adds events, `bridge/pipeline/flush.py` flushes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.model import Event, Notification, Recipient, Webhook
from bridge.pipeline.dedupe import NO_OUTCOME, PASSED, dedupe_status
from bridge.pipeline.event_record import (
    event_from_record,
    event_to_record,
    webhook_from_record,
    webhook_to_record,
)
from bridge.routing.router import GROUP_BY_ALL, Route
from bridge.sources.github_ci import CI_NORMALISERS

GROUP_KIND = "group"
# A group nobody posts to any more is forgotten after this long (Unix seconds).
GROUP_TTL = 7 * 86400.0
# Status changes of one alert between two flushes from which it is reported as flapping.
FLAP_TRANSITIONS = 2

# How a flush turns one recipient's events (and the flap counts to show) into notifications.
RenderForRecipient = Callable[[Recipient, list[Event], dict[str, int]], list[Notification]]

FlushReason = Literal[
    "first",
    "new_firing",
    "flapped",
    "some_resolved",
    "all_resolved",
    "repeat",
    "resolved_not_wanted",
    "nothing_firing",
    "unchanged",
]


def group_key(route: Route, event: Event) -> str:
    """The route name and the sorted group label values: events with equal keys wait together.

    With `...` every alert is its own group, keyed by its identity, the fingerprint: the same as
    all its labels for Alertmanager and Grafana, but a GitHub alert's labels change over its
    life (conclusion, state) and its fix must land in its failure's group."""
    if route.group_by is not None and GROUP_BY_ALL in route.group_by:
        return f"{route.name}{{fingerprint={event.fingerprint!r}}}"
    labels = route.group_labels(event)
    return route.name + "{" + ",".join(f"{k}={v!r}" for k, v in labels.items()) + "}"


def record_key(route: str, key: str) -> str:
    """The store key of a group: the route and the group key (which starts with the route)."""
    return f"{route}\x1f{key}"


def flap_key(route: str, fingerprint: str) -> str:
    """Group key of the hold for one flapping alert on a route without group_by."""
    return f"{route}|flapping:{fingerprint}"


@dataclass(slots=True)
class GroupAlert:
    """One alert of a group: its latest event and how often it changed since the last flush."""

    event: Event
    changed_at: float
    transitions: int = 0
    # A GitHub failure of it came into the group and nothing ended it since: a re-run's update
    # with no outcome leaves it open, so that alert stays until the fix resolves it.
    failure_open: bool = False

    @property
    def status(self) -> str:
        return self.event.status

    @property
    def passed(self) -> bool:
        """A GitHub success that ended no failure ("CI passed"): firing, but not a failure."""
        return dedupe_status(self.event) == PASSED

    @property
    def no_outcome(self) -> bool:
        """A GitHub update with no outcome ("CI queued"): firing, but not a failure either."""
        return dedupe_status(self.event) == NO_OUTCOME


@dataclass(slots=True)
class Notified:
    """What one recipient was last told about a group (Alertmanager's notification log entry).

    `passed` holds the firing GitHub successes told as "CI passed" and `no_outcome` the GitHub
    updates with no outcome ("CI queued"); neither is in `firing`, so a failure after them is
    news. A later "resolved" pairs with no "passed", but with a "queued" (the failure that
    was told before it is still open)."""

    firing: list[str]
    resolved: list[str]
    at: float
    notification_id: str | None = None
    passed: list[str] = field(default_factory=list)
    no_outcome: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GroupState:
    route: str
    key: str
    labels: dict[str, str]
    webhook: dict[str, Any]
    created_at: float
    next_flush_at: float
    flushes: int = 0
    # A hold for one flapping alert of an ungrouped route, for the recipients in `only`.
    flap: bool = False
    only: list[str] = field(default_factory=list)
    # A hold for the events an ungrouped route deferred while muted (bridge/pipeline/deferral.py).
    deferred: bool = False
    alerts: dict[str, GroupAlert] = field(default_factory=dict)
    notified: dict[str, Notified] = field(default_factory=dict)

    @property
    def record_key(self) -> str:
        return record_key(self.route, self.key)

    def firing(self) -> set[str]:
        return {fp for fp, a in self.alerts.items() if a.status == "firing"}

    def resolved(self) -> set[str]:
        return {fp for fp, a in self.alerts.items() if a.status == "resolved"}

    def passed(self) -> set[str]:
        """The firing alerts that are GitHub successes which ended no failure."""
        return {fp for fp, a in self.alerts.items() if a.passed}

    def no_outcome(self) -> set[str]:
        """The firing alerts that are GitHub updates with no outcome yet."""
        return {fp for fp, a in self.alerts.items() if a.no_outcome}

    def flaps(self) -> dict[str, int]:
        """Alerts that changed status at least FLAP_TRANSITIONS times since the last flush."""
        return {
            fp: a.transitions for fp, a in self.alerts.items() if a.transitions >= FLAP_TRANSITIONS
        }

    def webhook_for(self, events: list[Event]) -> Webhook:
        return webhook_from_record(self.webhook, events)


def new_group(
    route: Route, key: str, labels: dict[str, str], webhook: Webhook, now: float, wait: float
) -> GroupState:
    """An empty group whose first flush is `wait` seconds away."""
    return GroupState(
        route=route.name,
        key=key,
        labels=labels,
        webhook=webhook_to_record(webhook),
        created_at=now,
        next_flush_at=now + wait,
    )


def add_event(group: GroupState, event: Event, now: float) -> bool:
    """Take the event's current state into the group; True if the group changed.

    A GitHub alert turning from success or no outcome into a failure (or back) while all fire
    is a change too, but not a status transition: it does not count towards flapping. An event
    received before the one the group holds never replaces it."""
    known = group.alerts.get(event.fingerprint)
    if known is None:
        opened = _failure_open_after(False, event)
        group.alerts[event.fingerprint] = GroupAlert(event, now, failure_open=opened)
        return True
    if event.received_at < known.event.received_at:
        return False  # an older state (routed again after a reload): kept out
    known.failure_open = _failure_open_after(known.failure_open, event)
    if known.status != event.status:
        known.transitions += 1
        known.changed_at = now
        known.event = event
        return True
    was = dedupe_status(known.event)
    known.event = event  # the newest annotations and ends_at, same status
    if dedupe_status(event) != was:
        known.changed_at = now
        return True
    return False


def _failure_open_after(was_open: bool, event: Event) -> bool:
    """A GitHub failure opens one; an update with no outcome (a re-run queued) leaves it as it
    was; anything else (a success, a resolution, a non-GitHub alert) has none open."""
    status = dedupe_status(event)
    if status == NO_OUTCOME:
        return was_open
    return event.source == "github" and status == "firing"


def told_once(group: GroupState, recipients: Iterable[str]) -> set[str]:
    """The GitHub alerts that are news only once: "CI passed" or with no outcome (a pull
    request opened, "CI queued") holding no failure open, and told in their current state to
    every recipient. They leave the group at its next flush instead of repeating with it."""
    names = list(recipients)
    return {
        fp
        for fp, alert in group.alerts.items()
        if (alert.passed or alert.no_outcome)
        and not alert.failure_open
        and all(_told_as_is(group.notified.get(name), fp, alert) for name in names)
    }


def _told_as_is(notified: Notified | None, fingerprint: str, alert: GroupAlert) -> bool:
    if notified is None or alert.changed_at > notified.at:
        return False
    return fingerprint in (notified.passed if alert.passed else notified.no_outcome)


def drop_told_once(group: GroupState, recipients: Iterable[str]) -> set[str]:
    """Take `told_once` alerts out of the group and its notification log (so they are news if
    they come back); returns their fingerprints."""
    done = told_once(group, recipients)
    _forget(group, done)
    return done


@dataclass(frozen=True, slots=True)
class FlushDecision:
    """What one recipient gets at a flush: the alerts to show, or why nothing."""

    send: bool
    reason: FlushReason
    fingerprints: tuple[str, ...] = ()
    # Whether the recipient's notification log entry moves to the group's current state.
    record: bool = False


def decide_flush(
    group: GroupState,
    notified: Notified | None,
    *,
    now: float,
    send_resolved: bool,
    repeat_interval: float,
) -> FlushDecision:
    """Alertmanager's dedup stage, per recipient: send only what changed since they were told.

    Resolved alerts count only when the recipient was told they were firing (a resolved pairs
    with the firing it ends); an unchanged firing group is sent again after repeat_interval.
    A firing GitHub alert is news when it turned from "CI passed" or "CI queued" to failing,
    or from one of these to another.
    """
    firing, passed, no_outcome = group.firing(), group.passed(), group.no_outcome()
    seen = set(notified.firing) if notified is not None else set()
    seen_passed = set(notified.passed) if notified is not None else set()
    seen_no_outcome = set(notified.no_outcome) if notified is not None else set()
    told_firing = seen | seen_no_outcome  # a re-run's "queued" leaves the failure open
    newly_resolved = group.resolved() & told_firing
    flapped = {fp for fp in group.flaps() if fp in told_firing or fp in firing}
    if notified is None or not (notified.firing or notified.passed or notified.no_outcome):
        if not firing:
            return FlushDecision(False, "nothing_firing")
        return FlushDecision(True, "first", _ordered(group, firing | (flapped & firing)), True)
    failing = firing - passed - no_outcome
    new_firing = (failing - seen) | (passed - seen_passed) | (no_outcome - seen_no_outcome)
    shown_resolved = newly_resolved if send_resolved else set()
    if new_firing:
        changed = new_firing | shown_resolved | (flapped & firing)
        return FlushDecision(True, "new_firing", _ordered(group, changed), True)
    if not firing:
        if send_resolved and newly_resolved:
            return FlushDecision(True, "all_resolved", _ordered(group, newly_resolved), True)
        # Alertmanager records this even without send_resolved, so a new firing is news again.
        return FlushDecision(False, "resolved_not_wanted", record=True)
    if shown_resolved:
        changed = shown_resolved | (flapped & firing)
        return FlushDecision(True, "some_resolved", _ordered(group, changed), True)
    if flapped & firing:
        return FlushDecision(True, "flapped", _ordered(group, flapped & firing), True)
    if now - notified.at >= repeat_interval:
        return FlushDecision(True, "repeat", _ordered(group, firing), True)
    return FlushDecision(False, "unchanged")


def _ordered(group: GroupState, fingerprints: Iterable[str]) -> tuple[str, ...]:
    chosen = set(fingerprints)
    return tuple(fp for fp in group.alerts if fp in chosen)


def after_flush(group: GroupState, now: float, interval: float) -> None:
    """Drop resolved alerts (everyone who needed to hear has heard), restart the change count."""
    _forget(group, group.resolved())
    for alert in group.alerts.values():
        alert.transitions = 0
    group.flushes += 1
    group.next_flush_at = now + interval


def _forget(group: GroupState, gone: set[str]) -> None:
    """Remove alerts from the group and from what each recipient was told."""
    for fp in gone:
        del group.alerts[fp]
    for entry in group.notified.values():
        entry.firing = [fp for fp in entry.firing if fp not in gone]
        entry.resolved = [fp for fp in entry.resolved if fp not in gone]
        entry.passed = [fp for fp in entry.passed if fp not in gone]
        entry.no_outcome = [fp for fp in entry.no_outcome if fp not in gone]


def group_to_record(group: GroupState) -> dict[str, Any]:
    return {
        "route": group.route,
        "key": group.key,
        "labels": group.labels,
        "webhook": group.webhook,
        "created_at": group.created_at,
        "next_flush_at": group.next_flush_at,
        "flushes": group.flushes,
        "flap": group.flap,
        "only": group.only,
        "deferred": group.deferred,
        "alerts": {
            fp: {
                "event": event_to_record(a.event),
                "changed_at": a.changed_at,
                "transitions": a.transitions,
                "failure_open": a.failure_open,
            }
            for fp, a in group.alerts.items()
        },
        "notified": {
            name: {
                "firing": n.firing,
                "resolved": n.resolved,
                "at": n.at,
                "notification_id": n.notification_id,
                "passed": n.passed,
                "no_outcome": n.no_outcome,
            }
            for name, n in group.notified.items()
        },
    }


def group_from_record(doc: dict[str, Any]) -> GroupState:
    group = _group_from_record(doc)
    for fp, a in (doc.get("alerts") or {}).items():
        if "failure_open" not in a:  # written before it was kept
            alert = group.alerts[fp]
            alert.failure_open = _failure_open_after(_told_failing(group, fp, alert), alert.event)
    return group


def _told_failing(group: GroupState, fingerprint: str, alert: GroupAlert) -> bool:
    """Whether a record written before `failure_open` was kept says a failure is open: told
    as firing, or (a re-run's update after a told failure is logged as "queued", not firing)
    a CI update told as queued; the worst case keeps a CI update until its next outcome."""
    ci_update = alert.no_outcome and alert.event.labels.get("event") in CI_NORMALISERS
    return any(
        fingerprint in n.firing or (ci_update and fingerprint in n.no_outcome)
        for n in group.notified.values()
    )


def _group_from_record(doc: dict[str, Any]) -> GroupState:
    return GroupState(
        route=doc["route"],
        key=doc["key"],
        labels=dict(doc.get("labels") or {}),
        webhook=dict(doc["webhook"]),
        created_at=float(doc["created_at"]),
        next_flush_at=float(doc["next_flush_at"]),
        flushes=int(doc.get("flushes", 0)),
        flap=bool(doc.get("flap", False)),
        only=list(doc.get("only") or []),
        deferred=bool(doc.get("deferred", False)),
        alerts={
            fp: GroupAlert(
                event_from_record(a["event"]),
                float(a["changed_at"]),
                int(a["transitions"]),
                bool(a.get("failure_open", False)),
            )
            for fp, a in (doc.get("alerts") or {}).items()
        },
        notified={
            name: Notified(
                list(n["firing"]),
                list(n["resolved"]),
                float(n["at"]),
                n.get("notification_id"),
                list(n.get("passed") or []),
                list(n.get("no_outcome") or []),
            )
            for name, n in (doc.get("notified") or {}).items()
        },
    )
