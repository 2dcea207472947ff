"""Events a route without group_by drops (silenced, muted) that a hold of theirs still needs.

Such a route drops a silenced or drop-muted event before dedupe, but a hold of its alert may be
waiting to end: its flap hold (`flapping.py`), or the route's deferred hold (`deferral.py`). The
event still updates it, so the hold then reports the alert's latest state (or drops it, if the
alert is silenced when the hold ends), never a state from before the event.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import structlog

from bridge.model import Event
from bridge.pipeline.dedupe import read_histories
from bridge.pipeline.deferral import deferred_key, defers
from bridge.pipeline.grouping import (
    GROUP_KIND,
    GROUP_TTL,
    GroupState,
    add_event,
    flap_key,
    group_from_record,
    group_to_record,
    record_key,
)
from bridge.pipeline.results import RoutedEvents, recipient_alerts
from bridge.pipeline.staged_writes import StagedWrites
from bridge.store.base import Store

log = structlog.get_logger("alertbridge.pipeline")


async def update_waiting_holds(
    store: Store, staged: StagedWrites, held_back: Sequence[RoutedEvents], now: float
) -> None:
    """Add the held-back events to the holds of their alerts that wait to end.

    A storm of dropped events reads few records: a flap hold is looked for only where a
    recipient's HOLD entry (in memory) says one waits, the deferred hold once per route."""
    histories = await read_histories(store, recipient_alerts(held_back), now)
    for r in held_back:
        name = r.route.name
        deferred = (
            await _read_hold(store, staged, record_key(name, deferred_key(name)), now)
            if defers(r.route)
            else None
        )
        for event in r.events:
            fp = event.fingerprint
            if deferred is not None and fp in deferred.alerts:  # only alerts it holds
                _update_hold(staged, deferred, event, now)
            if any(histories[(name, rcpt.name, fp)].hold for rcpt in r.route.recipients):
                flap = await _read_hold(store, staged, record_key(name, flap_key(name, fp)), now)
                if flap is not None:
                    _update_hold(staged, flap, event, now)


async def _read_hold(store: Store, staged: StagedWrites, key: str, now: float) -> GroupState | None:
    doc = await staged.read_record(store, GROUP_KIND, key, now)
    return group_from_record(doc) if doc is not None else None


def _update_hold(staged: StagedWrites, hold: GroupState, event: Event, now: float) -> None:
    if add_event(hold, event, now):
        staged.put_record(GROUP_KIND, hold.record_key, group_to_record(hold), now + GROUP_TTL)
        report = functools.partial(
            log.info,
            "hold.updated",
            route=hold.route,
            group=hold.key,
            fingerprint=event.fingerprint,
            status=event.status,
        )
        staged.on_commit(report)
