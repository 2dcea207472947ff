"""An in-process Store: fast, for tests and `alertbridge demo`, and lost on restart.

Memory stays bounded: expired keys, dedupe entries and records are purged lazily
(`ExpiringTables`), and only the last `max_sent` finished (sent or merged) notifications are kept
for inspection. Pending, sending and dead ones are kept.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Collection, Iterable, Sequence
from typing import Any, get_args

from bridge.model import Notification, NotificationState
from bridge.store.base import (
    DELIVERED_STATUSES,
    FAILED_DELIVERY,
    REQUEUED_NOTE,
    DedupeEntry,
    RecordWrite,
    Requeued,
    resend_of,
)
from bridge.store.memory_expiring import ExpiringTables
from bridge.store.memory_finished import FinishedOrder, finished_at, sends_by_phone
from bridge.store.memory_lookup import ProviderLookup

NOTIFICATION_STATES: tuple[NotificationState, ...] = get_args(NotificationState)

# Sorts after every (created_at, id): a phone with no retry waiting.
_NEVER = (math.inf, "")


def _copy(notification: Notification) -> Notification:
    """A copy the caller may change without changing what the store holds."""
    return dataclasses.replace(notification, event_keys=list(notification.event_keys))


class MemoryStore:
    """The Store protocol in dictionaries; every method runs without awaiting, so it is atomic."""

    def __init__(self, *, max_sent: int = 10_000) -> None:
        self.max_sent = max_sent
        self._expiring = ExpiringTables()  # one-shot keys, dedupe entries, records
        self._outbox: dict[str, Notification] = {}
        self._pending: set[str] = set()
        self._finished = FinishedOrder()  # to drop those over max_sent
        self._lookup = ProviderLookup()  # for find_notification

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    # --- one-shot keys ---
    async def remember(self, key: str, ttl: float, now: float) -> bool:
        return self._expiring.remember(key, ttl, now)

    async def forget(self, key: str) -> bool:
        return self._expiring.forget(key)

    async def contains(self, key: str, now: float) -> bool:
        return self._expiring.contains(key, now)

    # --- dedupe entries ---
    async def get_dedupe(self, keys: Sequence[str], now: float) -> dict[str, DedupeEntry]:
        return self._expiring.get_dedupe(keys, now)

    async def put_dedupe(self, entries: dict[str, DedupeEntry], ttl: float) -> None:
        self._expiring.put_dedupe(entries, ttl)

    def dedupe_entries(self) -> int:
        return self._expiring.dedupe_entries()

    # --- outbox ---
    async def enqueue(
        self,
        notifications: Sequence[Notification],
        dedupe: Sequence[tuple[dict[str, DedupeEntry], float]] = (),
        records: Sequence[RecordWrite] = (),
    ) -> None:
        """Keep new notifications as pending; an id already in the outbox is left as it is.

        Records are encoded before anything changes, so a value that cannot be stored fails the
        whole call; nothing here awaits, so the rest happens together."""
        encoded = [
            (kind, key, None if value is None else json.dumps(value), expires_at)
            for kind, key, value, expires_at in records
        ]
        for entries, ttl in dedupe:
            await self.put_dedupe(entries, ttl)
        for kind, key, value, expires_at in encoded:
            if value is None:
                await self.delete_record(kind, key)
            else:
                self._expiring.put_encoded(kind, key, value, expires_at)
        for notification in notifications:
            self._add(notification)

    async def claim_due(
        self,
        now: float,
        limit: int,
        exclude_phones: Collection[str] = (),
        per_phone: int | None = None,
    ) -> list[Notification]:
        self._expiring.saw(now)
        pending = [self._outbox[nid] for nid in self._pending]
        # Each phone in the order accepted: nothing claimed behind an older retry still waiting.
        waiting: dict[str, tuple[float, str]] = {}
        for n in pending:
            if n.next_attempt_at > now:
                waiting[n.phone] = min((n.created_at, n.id), waiting.get(n.phone, _NEVER))
        due = [
            n
            for n in pending
            if n.next_attempt_at <= now
            and n.phone not in exclude_phones
            and (n.created_at, n.id) < waiting.get(n.phone, _NEVER)
        ]
        due.sort(key=lambda n: (n.created_at, n.id))
        claimed: list[Notification] = []
        per_phone_claimed: dict[str, int] = {}
        for n in due:
            if len(claimed) >= limit:
                break
            taken = per_phone_claimed.get(n.phone, 0)
            if per_phone is not None and taken >= per_phone:
                continue
            per_phone_claimed[n.phone] = taken + 1
            claimed.append(n)
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
        self._expiring.saw(now)
        notification = self._outbox.get(notification_id)
        if notification is None:
            return
        self._lookup.discard(notification)
        notification.attempts += 1
        notification.sent_at = now
        notification.provider_id = provider_id
        notification.provider_status = provider_status
        self._lookup.add(notification)
        self._set_state(notification, "sent")

    async def mark_retry(self, notification_id: str, *, error: str, next_attempt_at: float) -> None:
        notification = self._outbox.get(notification_id)
        if notification is None:
            return
        self._set_state(notification, "pending")
        notification.attempts += 1
        notification.last_error = error
        notification.next_attempt_at = next_attempt_at

    async def mark_dead(self, notification_id: str, *, error: str, now: float) -> None:
        self._expiring.saw(now)
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
        """By state, as list_notifications selects them: FAILED_DELIVERY counts the failed
        deliveries (which count as sent too)."""
        counts: dict[NotificationState, int] = dict.fromkeys(NOTIFICATION_STATES, 0)
        for notification in self._outbox.values():
            counts[notification.state] += 1
        counts[FAILED_DELIVERY] = len(self._failed_deliveries(None))
        return counts

    async def sent_since(self, since: float, limit: int) -> dict[str, list[float]]:
        """Reads the finished notifications kept (max_sent at most)."""
        return sends_by_phone((self._outbox[nid] for nid in self._finished), since, limit)

    async def get_notification(self, notification_id: str) -> Notification | None:
        notification = self._outbox.get(notification_id)
        return None if notification is None else _copy(notification)

    async def list_notifications(
        self, state: NotificationState | None = None, limit: int = 100
    ) -> list[Notification]:
        """Newest first."""
        if state == FAILED_DELIVERY:
            chosen = self._failed_deliveries(None)
        else:
            chosen = [n for n in self._outbox.values() if state is None or n.state == state]
        chosen.sort(key=lambda n: (n.created_at, n.id), reverse=True)
        return [_copy(n) for n in chosen[: max(limit, 0)]]

    async def purge_expired(self, now: float, *, finished_before: float | None = None) -> int:
        self._expiring.saw(now)
        purged = self._expiring.drop_expired(now)
        if finished_before is not None:
            finished = (self._outbox[nid] for nid in self._finished)
            old = [n for n in finished if finished_at(n) < finished_before]
            for notification in old:
                self._remove(notification)
            purged += len(old)
        return purged

    # --- delivery status ---
    async def find_notification(
        self,
        *,
        provider_id: str | None = None,
        provider_key: str | None = None,
    ) -> Notification | None:
        """The first of provider_id, provider_key (in that order) that matches."""
        nid = self._lookup.find(provider_id=provider_id, provider_key=provider_key)
        return None if nid is None else _copy(self._outbox[nid])

    async def set_delivery_status(
        self,
        notification_id: str,
        *,
        status: str,
        at: float,
        provider_key: str | None = None,
    ) -> None:
        """A provider_key of None keeps the one already recorded."""
        notification = self._outbox.get(notification_id)
        if notification is None:
            return
        self._lookup.discard(notification)
        notification.delivery_status = status
        notification.delivery_status_at = at
        if provider_key is not None:
            notification.provider_key = provider_key
        self._lookup.add(notification)

    # --- dead letters and digests ---
    async def requeue(self, notification_ids: Sequence[str] | None, *, now: float) -> Requeued:
        self._expiring.saw(now)
        dead = self._dead(notification_ids)
        undelivered = [n for n in dead if n.delivery_status not in DELIVERED_STATUSES]
        for notification in undelivered:
            notification.attempts = 0
            notification.next_attempt_at = now
            notification.last_error = REQUEUED_NOTE + (notification.last_error or "")
            self._set_state(notification, "pending")
        resent: list[tuple[str, str]] = []
        for failed in self._failed_deliveries(notification_ids):
            resend = resend_of(failed, now=now)
            self._add(resend)
            failed.merged_into = resend.id
            resent.append((failed.id, resend.id))
        requeued = len(undelivered) + len(resent)
        return Requeued(requeued, len(dead) - len(undelivered), tuple(resent))

    async def drop(self, notification_ids: Sequence[str] | None) -> int:
        dead = self._dead(notification_ids)
        for notification in dead:
            self._remove(notification)
        return len(dead)

    async def pending_for(self, phone: str, limit: int = 1000) -> list[Notification]:
        """Oldest first."""
        chosen = [self._outbox[nid] for nid in self._pending if self._outbox[nid].phone == phone]
        chosen.sort(key=lambda n: (n.created_at, n.id))
        return [_copy(n) for n in chosen[: max(limit, 0)]]

    async def carried_by(self, phone: str, digest_id: str) -> list[Notification]:
        """Oldest first."""
        chosen = [
            n
            for n in self._outbox.values()
            if n.phone == phone and n.state == "merged" and n.merged_into == digest_id
        ]
        chosen.sort(key=lambda n: (n.created_at, n.id))
        return [_copy(n) for n in chosen]

    async def merge_into(self, notification_ids: Sequence[str], digest: Notification) -> int:
        """Nothing here awaits, so the digest and the merges happen together."""
        waiting = self._outbox.get(digest.id)
        if waiting is not None and not (waiting.state == "pending" and waiting.never_tried):
            return 0
        still_pending = [
            self._outbox[nid]
            for nid in dict.fromkeys(notification_ids)
            if nid in self._pending and nid != digest.id
        ]
        if not still_pending:
            return 0
        if waiting is None:
            self._add(digest)
        else:
            waiting.route, waiting.text = digest.route, digest.text
            waiting.created_at, waiting.next_attempt_at = digest.created_at, digest.next_attempt_at
            waiting.event_keys = list(digest.event_keys)
        for notification in still_pending:
            notification.merged_into = digest.id
            self._set_state(notification, "merged")
        return len(still_pending)

    # --- records ---
    async def put_record(
        self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None
    ) -> None:
        # Kept as JSON, as SQLite keeps it: same accepted values, and no aliasing with the caller.
        self._expiring.put_encoded(kind, key, json.dumps(value), expires_at)

    async def get_record(self, kind: str, key: str, now: float) -> dict[str, Any] | None:
        return self._expiring.get_record(kind, key, now)

    async def list_records(
        self, kind: str, now: float, *, prefix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        """Unexpired records of one kind whose key starts with `prefix`, ordered by key."""
        return self._expiring.list_records(kind, now, prefix)

    async def delete_record(self, kind: str, key: str) -> bool:
        return self._expiring.delete_record(kind, key)

    # --- outbox bookkeeping ---
    def _add(self, notification: Notification) -> None:
        """Keep a copy as pending; an id already in the outbox is left as it is."""
        if notification.id in self._outbox:
            return
        stored = _copy(notification)
        stored.state = "pending"
        self._outbox[stored.id] = stored
        self._pending.add(stored.id)
        self._lookup.add(stored)

    def _dead(self, notification_ids: Sequence[str] | None) -> list[Notification]:
        """The dead notifications among ids (all of them when ids is None), each once."""
        if notification_ids is None:
            return [n for n in self._outbox.values() if n.state == "dead"]
        chosen = (self._outbox.get(nid) for nid in dict.fromkeys(notification_ids))
        return [n for n in chosen if n is not None and n.state == "dead"]

    def _failed_deliveries(self, notification_ids: Sequence[str] | None) -> list[Notification]:
        """The sent notifications Blueticks reported failed and not resent, among ids."""
        if notification_ids is None:
            chosen: Iterable[Notification | None] = self._outbox.values()
        else:
            chosen = (self._outbox.get(nid) for nid in dict.fromkeys(notification_ids))
        return [
            n
            for n in chosen
            if n is not None
            and n.state == "sent"
            and n.delivery_status == "failed"
            and n.merged_into is None
        ]

    def _set_state(self, notification: Notification, state: NotificationState) -> None:
        """Change state and keep the pending index and the finished cap in step."""
        nid = notification.id
        notification.state = state
        if state == "pending":
            self._pending.add(nid)
        else:
            self._pending.discard(nid)
        for oldest in self._finished.track(nid, state, cap=self.max_sent):
            self._remove(self._outbox[oldest])

    def _remove(self, notification: Notification) -> None:
        nid = notification.id
        self._lookup.discard(notification)
        self._pending.discard(nid)
        self._finished.discard(nid)
        del self._outbox[nid]
