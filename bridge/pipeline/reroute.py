"""Groups a reload orphaned: their alerts are routed again under the config now in use.

A group record belongs to its route's settings when it was opened. After a reload (or a restart
with a new config) that removes the route, drops its group_by or changes it, no new event will
ever land in that record again: left alone it would repeat FIRING every repeat_interval for
alerts whose resolution now goes elsewhere, or be deleted with alerts still in group_wait.
Alertmanager re-dispatches its alerts through the new routing tree after a reload; so does the
bridge, in two steps, each one transaction:

1. dissolve (`GroupFlusher`): a route that still exists first tells its recipients what the
   group holds for them (a resolution, an alert still in group_wait), as at a flush; what is
   left moves to a `reroute` record, where nothing can add to it any more;
2. reroute (`Pipeline.reroute`): those events go through the pipeline again (silences, mutes,
   dedupe, groups) on their own route when it still takes them, else on the routes the config
   now gives them; the `reroute` record is deleted with what that ingest writes.

What each recipient was told in the old group goes with the events: into the groups they join
(`carry_told`) and into the dedupe of routes without group_by (`Told.entry`), so nothing is
announced twice and a later resolution pairs with the firing it ends; an event older than what
a group or a recipient has since heard changes nothing. A crash between the steps leaves the
`reroute` record, which the flusher redoes at start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bridge.pipeline.dedupe import (
    NO_OUTCOME,
    PASSED,
    read_histories,
    stage_told,
    with_told,
)
from bridge.pipeline.grouping import (
    GROUP_KIND,
    GroupState,
    Notified,
    group_key,
    group_to_record,
)
from bridge.pipeline.results import RoutedEvents, recipient_alerts
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routing.router import Route, match_routes
from bridge.store.base import DedupeEntry, Store

REROUTE_KIND = "reroute"

OrphanReason = Literal[
    "route_gone", "route_ungrouped", "route_grouped", "group_by_changed", "route_passed_over"
]


def orphan_reason(
    group: GroupState, route: Route | None, routes: Sequence[Route]
) -> OrphanReason | None:
    """Why the current config (`routes`, `route` the group's own among them) would never add
    to this group again; None while it would. Flap and deferred holds belong to routes without
    group_by."""
    if route is None:
        return "route_gone"
    if group.flap or group.deferred:
        return "route_grouped" if route.grouped else None
    if not route.grouped:
        return "route_ungrouped"
    if any(group_key(route, alert.event) != group.key for alert in group.alerts.values()):
        return "group_by_changed"
    if any(route not in match_routes(routes, alert.event) for alert in group.alerts.values()):
        return "route_passed_over"  # its matchers changed, or a route before it takes them
    return None


def set_aside(staged: StagedWrites, group: GroupState) -> None:
    """Stage step 1: the group record becomes a `reroute` record."""
    staged.put_record(REROUTE_KIND, group.record_key, group_to_record(group), None)
    staged.delete_record(GROUP_KIND, group.record_key)


@dataclass(frozen=True, slots=True)
class Told:
    """What each recipient was told in a set-aside group of `route` (its notification log)."""

    route: str
    notified: Mapping[str, Notified] = field(default_factory=dict)

    def entry(self, recipient: str, fingerprint: str) -> DedupeEntry | None:
        """The recipient's last word on the alert in that group, as a dedupe entry."""
        told = self.notified.get(recipient)
        if told is None:
            return None
        for status, fingerprints in (
            ("firing", told.firing),
            ("resolved", told.resolved),
            (PASSED, told.passed),
            (NO_OUTCOME, told.no_outcome),
        ):
            if fingerprint in fingerprints:
                return DedupeEntry(status, told.at, told.notification_id)
        return None


def carry_told(group: GroupState, told: Told, fingerprints: set[str]) -> bool:
    """Into a group that takes rerouted alerts: what each recipient (by name) was told of them
    before, so the group neither announces them again nor misses that a resolution ends a
    firing they were told of. An alert the group has its own word on keeps it."""
    changed = False
    for name, entry in told.notified.items():
        mine = group.notified.get(name)
        known = (
            set()
            if mine is None
            else {*mine.firing, *mine.resolved, *mine.passed, *mine.no_outcome}
        )
        moved = fingerprints - known
        firing = [fp for fp in entry.firing if fp in moved]
        resolved = [fp for fp in entry.resolved if fp in moved]
        passed = [fp for fp in entry.passed if fp in moved]
        no_outcome = [fp for fp in entry.no_outcome if fp in moved]
        if not (firing or resolved or passed or no_outcome):
            continue
        if mine is None:
            group.notified[name] = Notified(
                firing, resolved, entry.at, entry.notification_id, passed, no_outcome
            )
        else:
            mine.firing += firing
            mine.resolved += resolved
            mine.passed += passed
            mine.no_outcome += no_outcome
        changed = True
    return changed


async def stage_told_events(
    store: Store, staged: StagedWrites, held: Sequence[RoutedEvents], told: Told, now: float
) -> None:
    """What each recipient of these routes heard of the rerouted events they hold back (muted,
    deferred), as the routes' dedupe entries, where newer than what the routes have."""
    histories = await read_histories(store, recipient_alerts(held), now)
    for r in held:
        for rcpt in r.route.recipients:
            for event in r.events:
                history = histories[(r.route.name, rcpt.name, event.fingerprint)]
                heard = told.entry(rcpt.name, event.fingerprint)
                if heard is not None and with_told(history, heard) is not history:
                    stage_told(staged, r.route, rcpt.name, event.fingerprint, heard, now)
