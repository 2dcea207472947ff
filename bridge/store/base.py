"""The one interface every stage keeps its state behind; memory and SQLite implement it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bridge.ids import new_id
from bridge.model import Notification, NotificationState


@dataclass(slots=True, frozen=True)
class DedupeEntry:
    """The last status seen for one (route, recipient, fingerprint), and when."""

    status: str
    at: float  # Unix seconds
    notification_id: str | None = None


# Delivery statuses (bridge.delivery.callbacks) that prove Blueticks took the message: queued
# there ("pending") or on WhatsApp already. A dead letter with one of them was sent after all (a
# legacy send that timed out, say), so requeueing it would deliver it twice; "failed" may go.
DELIVERED_STATUSES = frozenset({"pending", "confirmed", "received", "read"})


# The last error of a dead letter `requeue` puts back starts with this (the rest is kept): the
# message counts as tried (Notification.never_tried) although its attempts start from zero.
REQUEUED_NOTE = "requeued by outbox retry; before: "


# A sent notification Blueticks later reported failed is listed under the state "failed" (no
# notification is stored in that state) until `requeue` sends it again. The resend is a new
# notification: a new id is a new Idempotency-Key, which v1 would otherwise answer with the
# failed message instead of sending (blueticks.md §B.5). The failed one's merged_into names it.
FAILED_DELIVERY: NotificationState = "failed"
RESENT_NOTE = "resend by outbox retry of {id}, which Blueticks reported failed"


def resend_of(failed: Notification, *, now: float) -> Notification:
    """A new notification, due now, that says what `failed` said; counted as tried (its last
    error names `failed`), so it is never folded into a digest."""
    return Notification(
        id=new_id(),
        route=failed.route,
        recipient=failed.recipient,
        phone=failed.phone,
        text=failed.text,
        created_at=failed.created_at,
        image_url=failed.image_url,
        source=failed.source,
        next_attempt_at=now,
        last_error=RESENT_NOTE.format(id=failed.id),
        event_keys=list(failed.event_keys),
        event_briefs=list(failed.event_briefs),
    )


@dataclass(slots=True, frozen=True)
class Requeued:
    """What `Store.requeue` did: `requeued` counts the dead letters back to pending and the
    failed deliveries sent again; `skipped_delivered` the dead letters left dead because their
    delivery status is one of DELIVERED_STATUSES; `resent` pairs each failed delivery's id with
    its resend's."""

    requeued: int
    skipped_delivered: int = 0
    resent: tuple[tuple[str, str], ...] = ()


# (kind, key, value, expires_at) of a record written with Store.enqueue; value None deletes it.
RecordWrite = tuple[str, str, dict[str, Any] | None, float | None]


class Store(Protocol):
    """State of the pipeline: one-shot keys, dedupe entries, and the outbox of notifications.

    Times are Unix seconds passed in by the caller, so decisions stay testable.
    Every method may raise `bridge.errors.StoreUnavailable`.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot be used."""

    # --- one-shot keys (GitHub deliveries, open GitHub failures) ---
    async def remember(self, key: str, ttl: float, now: float) -> bool:
        """Store key until now+ttl; True if it was not already there (unexpired)."""

    async def forget(self, key: str) -> bool:
        """Remove key; True if it was there."""

    async def contains(self, key: str, now: float) -> bool: ...

    # --- dedupe entries ---
    async def get_dedupe(self, keys: Sequence[str], now: float) -> dict[str, DedupeEntry]:
        """The unexpired entries among keys."""

    async def put_dedupe(self, entries: dict[str, DedupeEntry], ttl: float) -> None:
        """Write entries, each expiring at entry.at + ttl."""

    def dedupe_entries(self) -> int:
        """How many dedupe entries are held, expired ones included until purged; cheap enough
        for a metric, so no I/O."""

    # --- outbox ---
    async def enqueue(
        self,
        notifications: Sequence[Notification],
        dedupe: Sequence[tuple[dict[str, DedupeEntry], float]] = (),
        records: Sequence[RecordWrite] = (),
    ) -> None:
        """Persist new pending notifications; durable when this returns.

        `dedupe` holds (entries, ttl) pairs and `records` record writes (a value of None deletes
        the record), all in the same transaction: a crash never keeps the dedupe entry or the
        group state of a notification that was not persisted, nor loses them once it was.
        """

    async def claim_due(
        self,
        now: float,
        limit: int,
        exclude_phones: Collection[str] = (),
        per_phone: int | None = None,
    ) -> list[Notification]:
        """Move up to limit pending notifications with next_attempt_at <= now to 'sending'.

        Oldest accepted first (created_at, then id); none is claimed while an older pending one
        to the same phone waits for its retry, so a recipient's messages never overtake each
        other. Notifications to `exclude_phones` stay pending (their recipient is being paced, so
        their backlog stays where a digest can merge it), and so do those beyond the first
        `per_phone` of each phone (None: no such cap), which go to other phones' instead."""

    async def mark_sent(
        self,
        notification_id: str,
        *,
        now: float,
        provider_id: str | None = None,
        provider_status: str | None = None,
    ) -> None: ...

    async def mark_retry(self, notification_id: str, *, error: str, next_attempt_at: float) -> None:
        """Back to pending after a failed attempt (attempts + 1)."""

    async def mark_dead(self, notification_id: str, *, error: str, now: float) -> None:
        """Give up: the notification goes to the dead-letter list (attempts + 1)."""

    async def requeue_inflight(self) -> int:
        """On start: notifications left in 'sending' by a crash go back to pending."""

    async def outbox_counts(self) -> dict[NotificationState, int]: ...

    async def sent_since(self, since: float, limit: int) -> dict[str, list[float]]:
        """When the notifications sent at or after `since` were sent (sent_at), by phone, oldest
        first; only the newest `limit` of them. What a restarted worker's pacing resumes from."""

    async def get_notification(self, notification_id: str) -> Notification | None: ...

    async def list_notifications(
        self, state: NotificationState | None = None, limit: int = 100
    ) -> list[Notification]:
        """Newest first; FAILED_DELIVERY selects the sent ones Blueticks reported failed and
        not resent yet."""

    async def purge_expired(self, now: float, *, finished_before: float | None = None) -> int:
        """Drop expired keys, dedupe entries and records, and the sent and merged notifications
        finished before `finished_before` (sent_at, else created_at); returns how many."""

    # --- delivery status (Blueticks callbacks) ---
    async def find_notification(
        self,
        *,
        provider_id: str | None = None,
        provider_key: str | None = None,
    ) -> Notification | None:
        """The notification with this Blueticks id or, failing that, this wire key."""

    async def set_delivery_status(
        self,
        notification_id: str,
        *,
        status: str,
        at: float,
        provider_key: str | None = None,
    ) -> None:
        """Record Blueticks' delivery status (and the wire key when first known)."""

    # --- dead letters and digests ---
    async def requeue(self, notification_ids: Sequence[str] | None, *, now: float) -> Requeued:
        """Dead notifications (all when ids is None) back to pending, due now, attempts reset;
        except those with a delivery status in DELIVERED_STATUSES, which stay dead. Failed
        deliveries (FAILED_DELIVERY) among them are sent again as new notifications
        (`resend_of`), their merged_into set to the resend; all in one operation."""

    async def drop(self, notification_ids: Sequence[str] | None) -> int:
        """Delete dead notifications (all when ids is None); returns how many."""

    async def pending_for(self, phone: str, limit: int = 1000) -> list[Notification]:
        """Pending notifications to one phone, oldest first (for digests)."""

    async def carried_by(self, phone: str, digest_id: str) -> list[Notification]:
        """The notifications to `phone` merged into `digest_id`, oldest first: what that digest
        says, for a digest that takes in newer ones after a restart."""

    async def merge_into(self, notification_ids: Sequence[str], digest: Notification) -> int:
        """Atomically: enqueue `digest` and mark those of `notification_ids` still pending as
        'merged' (merged_into = digest.id). Returns how many were merged; if none were still
        pending the digest is not enqueued.

        A digest already in the outbox, pending and never tried, takes them in: its row becomes
        `digest` (text, route, created_at, event_keys, next_attempt_at), so what it carries keeps
        pointing at it. A digest there in any other state (claimed, sent) merges nothing: 0."""

    # --- records: small JSON documents by kind and key (groups, silences, webhook event ids) ---
    async def put_record(
        self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None
    ) -> None: ...

    async def get_record(self, kind: str, key: str, now: float) -> dict[str, Any] | None: ...

    async def list_records(
        self, kind: str, now: float, *, prefix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        """Unexpired records of one kind whose key starts with `prefix`, ordered by key (the
        others are not even decoded)."""

    async def delete_record(self, kind: str, key: str) -> bool: ...
