"""An in-process Store: fast, for tests and `alertbridge demo`, and lost on restart.

Memory stays bounded: expired keys and dedupe entries are purged lazily (after a number of writes
that grows with the table, so the cost is amortised O(1) per write), and only the last
`max_sent` sent notifications are kept for inspection. Pending, sending and dead ones are kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bridge.model import Notification, NotificationState
from bridge.store.base import DedupeEntry

NOTIFICATION_STATES: tuple[NotificationState, ...] = (
    "pending",
    "sending",
    "sent",
    "failed",
    "dead",
)

_MIN_WRITES_BETWEEN_PURGES = 1024


def _copy(notification: Notification) -> Notification:
    """A copy the caller may change without changing what the store holds."""
    return dataclasses.replace(notification, event_keys=list(notification.event_keys))


class MemoryStore:
    """The Store protocol in dictionaries; every method runs without awaiting, so it is atomic."""

    def __init__(self, *, max_sent: int = 10_000) -> None:
        self.max_sent = max_sent
        self._keys: dict[str, float] = {}  # key -> expires_at
        self._dedupe: dict[str, tuple[DedupeEntry, float]] = {}  # key -> (entry, expires_at)
        self._outbox: dict[str, Notification] = {}
        self._pending: set[str] = set()
        # Sent ids, oldest first (a dict used as an ordered set), to drop the oldest over max_sent.
        self._sent_order: dict[str, None] = {}
        self._latest_now = 0.0
        self._writes_since_purge = 0
        self._writes_before_purge = _MIN_WRITES_BETWEEN_PURGES

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    # --- one-shot keys ---
    async def remember(self, key: str, ttl: float, now: float) -> bool:
        self._saw(now)
        expires_at = self._keys.get(key)
        if expires_at is not None and expires_at > now:
            return False
        self._keys[key] = now + ttl
        self._count_write()
        return True

    async def forget(self, key: str) -> bool:
        return self._keys.pop(key, None) is not None

    async def contains(self, key: str, now: float) -> bool:
        self._saw(now)
        expires_at = self._keys.get(key)
        return expires_at is not None and expires_at > now

    # --- dedupe entries ---
    async def get_dedupe(self, keys: Sequence[str], now: float) -> dict[str, DedupeEntry]:
        self._saw(now)
        found: dict[str, DedupeEntry] = {}
        for key in keys:
            stored = self._dedupe.get(key)
            if stored is not None and stored[1] > now:
                found[key] = stored[0]
        return found

    async def put_dedupe(self, entries: dict[str, DedupeEntry], ttl: float) -> None:
        for key, entry in entries.items():
            self._dedupe[key] = (entry, entry.at + ttl)
            self._count_write()

    # --- outbox ---
    async def enqueue(
        self,
        notifications: Sequence[Notification],
        dedupe: Sequence[tuple[dict[str, DedupeEntry], float]] = (),
    ) -> None:
        """Keep new notifications as pending; an id already in the outbox is left as it is."""
        for entries, ttl in dedupe:
            await self.put_dedupe(entries, ttl)
        for notification in notifications:
            if notification.id in self._outbox:
                continue
            stored = _copy(notification)
            stored.state = "pending"
            self._outbox[stored.id] = stored
            self._pending.add(stored.id)

    async def claim_due(self, now: float, limit: int) -> list[Notification]:
        self._saw(now)
        due = [
            self._outbox[nid] for nid in self._pending if self._outbox[nid].next_attempt_at <= now
        ]
        due.sort(key=lambda n: (n.next_attempt_at, n.created_at, n.id))
        claimed = due[: max(limit, 0)]
        for notification in claimed:
            self._set_state(notification, "sending")
        return [_copy(n) for n in claimed]

    async def mark_sent(
        self,
        notification_id: str,
        *,
        now: float,
        provider_id: str | None = None,
        provider_status: str | None = None,
    ) -> None:
        self._saw(now)
        notification = self._outbox.get(notification_id)
        if notification is None:
            return
        self._set_state(notification, "sent")
        notification.attempts += 1
        notification.sent_at = now
        notification.provider_id = provider_id
        notification.provider_status = provider_status

    async def mark_retry(self, notification_id: str, *, error: str, next_attempt_at: float) -> None:
        notification = self._outbox.get(notification_id)
        if notification is None:
            return
        self._set_state(notification, "pending")
        notification.attempts += 1
        notification.last_error = error
        notification.next_attempt_at = next_attempt_at

    async def mark_dead(self, notification_id: str, *, error: str, now: float) -> None:
        self._saw(now)
        notification = self._outbox.get(notification_id)
        if notification is None:
            return
        self._set_state(notification, "dead")
        notification.attempts += 1
        notification.last_error = error

    async def requeue_inflight(self) -> int:
        inflight = [n for n in self._outbox.values() if n.state == "sending"]
        for notification in inflight:
            self._set_state(notification, "pending")
        return len(inflight)

    async def outbox_counts(self) -> dict[NotificationState, int]:
        counts: dict[NotificationState, int] = dict.fromkeys(NOTIFICATION_STATES, 0)
        for notification in self._outbox.values():
            counts[notification.state] += 1
        return counts

    async def get_notification(self, notification_id: str) -> Notification | None:
        notification = self._outbox.get(notification_id)
        return None if notification is None else _copy(notification)

    async def list_notifications(
        self, state: NotificationState | None = None, limit: int = 100
    ) -> list[Notification]:
        """Newest first."""
        chosen = [n for n in self._outbox.values() if state is None or n.state == state]
        chosen.sort(key=lambda n: (n.created_at, n.id), reverse=True)
        return [_copy(n) for n in chosen[: max(limit, 0)]]

    async def purge_expired(self, now: float) -> int:
        self._saw(now)
        return self._drop_expired(now)

    # --- bookkeeping ---
    def _saw(self, now: float) -> None:
        """Track the latest time callers passed in, the clock for lazy purges."""
        self._latest_now = max(self._latest_now, now)

    def _count_write(self) -> None:
        """Purge after as many writes as there were live entries at the last purge (amortised)."""
        self._writes_since_purge += 1
        if self._writes_since_purge >= self._writes_before_purge:
            self._drop_expired(self._latest_now)

    def _drop_expired(self, now: float) -> int:
        before = len(self._keys) + len(self._dedupe)
        self._keys = {key: exp for key, exp in self._keys.items() if exp > now}
        self._dedupe = {key: stored for key, stored in self._dedupe.items() if stored[1] > now}
        after = len(self._keys) + len(self._dedupe)
        self._writes_since_purge = 0
        self._writes_before_purge = max(_MIN_WRITES_BETWEEN_PURGES, after)
        return before - after

    def _set_state(self, notification: Notification, state: NotificationState) -> None:
        """Change state and keep the pending index and the sent cap in step."""
        nid = notification.id
        notification.state = state
        if state == "pending":
            self._pending.add(nid)
        else:
            self._pending.discard(nid)
        self._sent_order.pop(nid, None)
        if state == "sent":
            self._sent_order[nid] = None
            while len(self._sent_order) > self.max_sent:
                oldest = next(iter(self._sent_order))
                del self._sent_order[oldest]
                del self._outbox[oldest]
