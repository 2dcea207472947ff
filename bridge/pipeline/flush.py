"""The group flusher: a background task that flushes each group when its next_flush_at is due.

Group state lives in the store, so on start the flusher reads every group record and resumes
where a previous process stopped. A flush commits its notifications, their dedupe entries and
the group's new state in one transaction; notification ids are derived from (group, when it
was opened, flush number, recipient, part), so a flush is never enqueued twice either way.
What a flush tells each recipient, and those ids, are `group_notifications.py`.
The flap holds and deferred holds of ungrouped routes are group records too, flushed here.
A group the config in use would never add to again (a reload removed or regrouped its route)
is routed again instead (`reroute.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from bridge.model import Notification
from bridge.pipeline.dedupe import HOLD, dedupe_key, read_histories
from bridge.pipeline.deferral import release_deferred
from bridge.pipeline.flapping import end_hold, flush_flapping, holds_ending_with
from bridge.pipeline.group_notifications import (
    flush_to_recipients,
    render_group_flush,
    without_silenced,
)
from bridge.pipeline.grouping import (
    GROUP_KIND,
    GROUP_TTL,
    GroupState,
    RenderForRecipient,
    after_flush,
    drop_told_once,
    group_from_record,
    group_to_record,
)
from bridge.pipeline.mute import route_mute_state
from bridge.pipeline.reroute import REROUTE_KIND, OrphanReason, Told, orphan_reason
from bridge.pipeline.reroute import set_aside as set_aside_group
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routing.router import Route
from bridge.store.base import DedupeEntry

if TYPE_CHECKING:
    from bridge.pipeline.ingest import Pipeline
    from bridge.runtime import Runtime

log = structlog.get_logger("alertbridge.flush")

# Never sleep longer than this, so a clock jump or a missed wake-up costs little.
_MAX_SLEEP = 5.0


class GroupFlusher:
    """Owns the flush schedule (a heap of due times) and the task that works through it."""

    def __init__(
        self,
        pipeline: Pipeline,
        runtime: Callable[[], Runtime],
        wake_sender: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # The pipeline's store and locks; its ingest routes again what a reload orphaned.
        self.pipeline = pipeline
        self.store = pipeline.store
        self.metrics = pipeline.metrics
        self.locks = pipeline.locks
        self._runtime = runtime
        self._wake_sender = wake_sender
        self._clock = clock
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rerouting = asyncio.Lock()

    def schedule(self, key: str, due: float) -> None:
        """Flush the group stored under `key` at `due` (Unix seconds)."""
        if self._due.get(key) == due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))
        self._changed.set()

    @property
    def scheduled(self) -> int:
        return len(self._due)

    async def start(self) -> None:
        """Resume every stored group, then flush groups as they come due.

        Each is read at once: flushed if due, routed again if the config it now runs under no
        longer makes it (or a crash came between setting it aside and routing it again), else
        put back at its own time."""
        now = self._clock()
        for kind in (GROUP_KIND, REROUTE_KIND):
            for key, _ in await self.store.list_records(kind, now):
                self.schedule(key, now)
        if self._due:
            log.info("groups.resumed", groups=len(self._due))
        self._task = asyncio.create_task(self._run(), name="alertbridge-group-flusher")

    def recheck(self) -> None:
        """After a reload: read every scheduled group now, so those the new config orphaned
        are routed again at once, not at their next flush."""
        now = self._clock()
        for key in list(self._due):
            self.schedule(key, now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            now = self._clock()
            due = self._pop_due(now)
            for key in due:
                try:
                    await self.flush(key)
                except Exception:  # one bad group must not stop every other group's flushes
                    log.exception("group.flush_failed", group=key)
                    self.schedule(key, self._clock() + _MAX_SLEEP)
            if due:
                continue
            wait = min(self._heap[0][0] - now, _MAX_SLEEP) if self._heap else _MAX_SLEEP
            self._changed.clear()
            # asyncio.wait, not wait_for: Python 3.11's wait_for can swallow a cancellation
            # that arrives just as the event is set, and then stop() would hang.
            waiter = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({waiter}, timeout=max(wait, 0.0))
            finally:
                waiter.cancel()

    def _pop_due(self, now: float) -> list[str]:
        keys: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            if self._due.get(key) == due:  # otherwise rescheduled since: a stale heap entry
                del self._due[key]
                keys.append(key)
        return keys

    async def flush(self, key: str) -> list[Notification]:
        """Flush one group if it is due; returns the notifications enqueued.

        A group the current config would never add to again is dissolved instead, due or not:
        what it holds for its recipients is sent, the rest routed again (`reroute.py`)."""
        set_aside = False
        together = await self._ending_with(key)
        async with self.locks.hold([key, *together]):
            now = self._clock()
            doc = await self.store.get_record(GROUP_KIND, key, now)
            if doc is None:
                fresh: list[Notification] = []
                set_aside = await self.store.get_record(REROUTE_KIND, key, now) is not None
            else:
                group = group_from_record(doc)
                routes = self._runtime().routes
                route = next((r for r in routes if r.name == group.route), None)
                reason = orphan_reason(group, route, routes)
                if route is not None and reason is None:
                    fresh = await self._flush_due(group, route, now, together)
                else:
                    fresh, set_aside = await self._dissolve(group, route, reason, now)
        # Not under the group's lock: the reroute's ingest takes the locks of the groups it
        # adds to, and a lock is not taken twice (nor against another ingest's order).
        if set_aside:
            fresh += await self._reroute(key)
        if fresh:
            self._wake_sender()
        return fresh

    async def _ending_with(self, key: str) -> list[str]:
        """When the flap hold under `key` is due, the keys of the holds ending with it: locked
        with it, and read again under the locks (`_flush_due`)."""
        now = self._clock()
        doc = await self.store.get_record(GROUP_KIND, key, now)
        if doc is None or not doc.get("flap") or doc["next_flush_at"] > now:
            return []
        holds = await holds_ending_with(self.store, group_from_record(doc), now)
        return [hold.record_key for hold in holds]

    async def _dissolve(
        self, group: GroupState, route: Route | None, reason: OrphanReason | None, now: float
    ) -> tuple[list[Notification], bool]:
        """Step 1 of `reroute.py` in one transaction: a regrouped or ungrouped route's group
        first tells its recipients what it holds for them (a resolution, an alert still in
        group_wait), as at a flush unless the route is muted; then all its alerts, resolved
        ones too, are set aside with what each recipient was told (a resolution that reached
        this group late still pairs with the firing its new group was told of). Returns
        (notifications, whether anything was set aside)."""
        staged = StagedWrites()
        notifications: list[Notification] = []
        runtime = self._runtime()
        moment = datetime.fromtimestamp(now, UTC)
        if (
            route is not None
            and not (group.flap or group.deferred)
            and not route_mute_state(route, runtime.time_intervals, moment).muted
        ):
            render = self._render_for_flush(group, route, runtime, now)
            silences = await self.pipeline.active_silences(now)
            flushed = flush_to_recipients(group, route, render, staged, self.metrics, silences, now)
            notifications = [n for n in flushed if await self.store.get_notification(n.id) is None]
            staged.notifications.extend(notifications)
        if group.alerts:
            set_aside_group(staged, group)
        else:
            staged.delete_record(GROUP_KIND, group.record_key)
        await staged.commit(self.store)
        for n in notifications:
            self.metrics.notifications.labels(n.route, "queued").inc()
        log.info(
            "group.orphaned",
            route=group.route,
            group=group.key,
            reason=reason,
            notifications=len(notifications),
            set_aside=len(group.alerts),
        )
        return notifications, bool(group.alerts)

    async def _flush_due(
        self, group: GroupState, route: Route, now: float, together: list[str]
    ) -> list[Notification]:
        """`together`: flap holds (locked) that may end with this one (`_ending_with`)."""
        key = group.record_key
        if group.next_flush_at > now:
            self.schedule(key, group.next_flush_at)
            return []
        runtime = self._runtime()
        if await self._muted(group, route, runtime, now):
            return []
        staged = StagedWrites()
        if not (group.flap or group.deferred):
            # Told once, never repeated: a group left with none ends as an all-resolved one.
            left = drop_told_once(group, (rcpt.name for rcpt in route.recipients))
            if left:
                report = functools.partial(
                    log.info, "group.told_once", route=route.name, group=group.key, left=len(left)
                )
                staged.on_commit(report)
        holds = [group]
        if group.flap:  # and those ending with it, reported in the same message
            holds += await holds_ending_with(self.store, group, now, together)
        if group.flap or group.deferred:
            # The hold ends here: an alert silenced now is dropped, as its route (no group_by)
            # drops a silenced event when it arrives; its flapping is over too.
            for i, whole in enumerate(holds):
                silences = await self.pipeline.active_silences(now)
                holds[i] = hold = without_silenced(whole, route, silences, now)
                for fp in whole.alerts.keys() - hold.alerts.keys():
                    # Its own reason: "silenced" counts events as they arrive, this the alerts
                    # a hold drops at its end (their last event may have come before the silence).
                    dropped = self.metrics.suppressed.labels(route.name, "silenced_at_hold_end")
                    staged.on_commit(dropped.inc)
                    report = functools.partial(
                        log.info, "hold.silenced", route=route.name, group=hold.key, fingerprint=fp
                    )
                    staged.on_commit(report)
                    for name in hold.only:
                        end_hold(staged, route, name, fp, now)
            group = holds[0]
        render = self._render_for_flush(group, route, runtime, now)
        if group.flap:
            told = await read_histories(
                self.store,
                ((route.name, r, fp) for h in holds for r in h.only for fp in h.alerts),
                now,
            )
            notifications = flush_flapping(holds, route, render, staged, self.metrics, now, told)
        elif group.deferred:
            notifications = await release_deferred(
                group, route, self.store, render, staged, self.metrics, now
            )
        else:
            silences = await self.pipeline.active_silences(now)
            notifications = flush_to_recipients(
                group, route, render, staged, self.metrics, silences, now
            )
        after_flush(group, now, route.group_interval)
        fresh = [n for n in notifications if await self.store.get_notification(n.id) is None]
        staged.notifications.extend(fresh)
        keep = bool(group.alerts) and not (group.flap or group.deferred)
        if keep:
            staged.put_record(GROUP_KIND, key, group_to_record(group), now + GROUP_TTL)
        else:
            staged.delete_record(GROUP_KIND, key)
        for hold in holds[1:]:
            staged.delete_record(GROUP_KIND, hold.record_key)
        await staged.commit(self.store)
        for n in fresh:
            self.metrics.notifications.labels(n.route, "queued").inc()
        if keep:
            self.schedule(key, group.next_flush_at)
        for held, due in staged.flush_at.items():  # flap holds a deferred release opened
            self.schedule(held, due)
        return fresh

    async def _reroute(self, key: str) -> list[Notification]:
        """Step 2 of `reroute.py`: the set-aside events through the pipeline under the current
        routes. One reroute at a time (a lock of the flusher's own, which no ingest takes)."""
        async with self._rerouting:
            now = self._clock()
            doc = await self.store.get_record(REROUTE_KIND, key, now)
            if doc is None:
                return []
            group = group_from_record(doc)
            events = [alert.event for alert in group.alerts.values()]
            runtime = self._runtime()
            result = await self.pipeline.reroute(
                group.webhook_for(events),
                runtime.routes,
                runtime.renderer,
                runtime.time_intervals,
                set_aside_key=key,
                told=Told(group.route, group.notified),
            )
        log.info(
            "group.rerouted",
            route=group.route,
            group=group.key,
            alerts=len(events),
            unrouted=result.unrouted,
            notifications=len(result.notifications),
        )
        return list(result.notifications)

    async def _muted(self, group: GroupState, route: Route, runtime: Runtime, now: float) -> bool:
        """While the route is muted, a group waits: until the window ends (defer) or for its
        next interval (drop: Alertmanager's time-mute skips the flush). A flap hold waits too:
        the alert's events meanwhile still update it (`Pipeline._ingest`), so it then reports
        the alert's latest state. Not counted here: events count once, as they arrive
        (`silence_mute.py`), not at every flush a mute skips."""
        mute = route_mute_state(route, runtime.time_intervals, datetime.fromtimestamp(now, UTC))
        if not mute.muted:
            return False
        later = now + route.group_interval
        if route.when_muted == "defer" and mute.until is not None:
            later = mute.until.timestamp()
        group.next_flush_at = later
        await self.store.put_record(
            GROUP_KIND, group.record_key, group_to_record(group), now + GROUP_TTL
        )
        if group.flap:  # its recipients' HOLD entries say "held" until it reports
            held = DedupeEntry(HOLD, group.created_at, group.record_key)
            ttl = later + route.flap_window - group.created_at
            keys = [
                dedupe_key(route.name, name, fp, HOLD) for name in group.only for fp in group.alerts
            ]
            await self.store.put_dedupe(dict.fromkeys(keys, held), ttl)
        self.schedule(group.record_key, later)
        log.info("group.muted", route=route.name, group=group.key, reason=mute.reason, until=later)
        return True

    def _render_for_flush(
        self, group: GroupState, route: Route, runtime: Runtime, now: float
    ) -> RenderForRecipient:
        """The render for this flush of `group`: each distinct message rendered once (a memo)."""
        return functools.partial(
            render_group_flush, group, route, runtime.renderer, self.metrics, now, {}
        )
