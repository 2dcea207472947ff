"""Groups a reload orphaned: their alerts are routed again under the config now in use.

A group record belongs to its route's settings when it was opened. After a reload (or a restart
with a new config) that removes the route, drops its group_by or changes it, no new event will
ever land in that record again: left alone it would repeat FIRING every repeat_interval for
alerts whose resolution now goes elsewhere, or be deleted with alerts still in group_wait.
Alertmanager re-dispatches its alerts through the new routing tree after a reload; so does the
bridge, in two steps, each one transaction:

1. set aside: the group record moves to a `reroute` record (nothing can add to it any more);
2. reroute: its events go through the pipeline under the current routes (silences, mutes,
   dedupe, groups), and the `reroute` record is deleted with what that ingest writes.

A crash between the two leaves the `reroute` record, which the flusher redoes at start. The new
groups know nothing of what recipients were told under the old ones, so each announces its
firing alerts once, as Alertmanager's do after a group_by change.
"""

from __future__ import annotations

from typing import Literal

from bridge.pipeline.grouping import GroupState, group_key
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routing.router import Route

REROUTE_KIND = "reroute"

OrphanReason = Literal["route_gone", "route_ungrouped", "group_by_changed"]


def orphan_reason(group: GroupState, route: Route | None) -> OrphanReason | None:
    """Why the current config would never add to this group again; None while it would.

    Flap and deferred holds belong to ungrouped routes and key on the route alone: only the
    route's removal orphans them."""
    if route is None:
        return "route_gone"
    if group.flap or group.deferred:
        return None
    if not route.grouped:
        return "route_ungrouped"
    if any(group_key(route, alert.event) != group.key for alert in group.alerts.values()):
        return "group_by_changed"
    return None


def set_aside(staged: StagedWrites, group: GroupState, doc: dict[str, object], kind: str) -> None:
    """Stage step 1: the group record (of record kind `kind`) becomes a `reroute` record."""
    staged.put_record(REROUTE_KIND, group.record_key, dict(doc), None)
    staged.delete_record(kind, group.record_key)
