"""The durable embedded Store: the Store protocol on one SQLite file.

Every call runs on the file's connection thread (`sqlite_thread`), which commits the calls
queued together in one transaction (group commit), so reads always see the writes queued before
them. Dedupe entries and one-shot keys are also mirrored in memory (`sqlite_mirror`), so their
reads, the ones every webhook makes, answer without waiting at all.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bridge.errors import StoreUnavailable
from bridge.model import Notification, NotificationState
from bridge.store import sqlite_queries as queries
from bridge.store.base import FAILED_DELIVERY, DedupeEntry, RecordWrite, Requeued
from bridge.store.sqlite_mirror import DedupeMirror, Undo
from bridge.store.sqlite_schema import (
    DELETE_RECORD,
    INSERT_OUTBOX,
    OUTBOX_COLUMNS,
    PUT_DEDUPE,
    PUT_RECORD,
    SCHEMA_VERSION,
    UNEXPIRED,
    decode_record,
    dedupe_rows,
    encode_record,
    from_row,
    record_rows,
    set_up_file,
    to_row,
)
from bridge.store.sqlite_thread import ConnectionThread

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

# Finished notifications one purge deletes at most (the next purge, a minute later, goes on).
PURGE_CHUNK = 10_000
T = TypeVar("T")


class SqliteStore:
    """The Store protocol on a SQLite file; `commits` counts transactions committed (for tests)."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        # How long to wait for another process holding the file's write lock before giving up.
        self.busy_timeout = busy_timeout
        # Dedupe entries and keys in memory (public so tests can compare it with the tables).
        self.mirror = DedupeMirror()
        self._connection = ConnectionThread(self._set_up)

    @property
    def commits(self) -> int:
        return self._connection.commits

    # --- lifecycle ---
    async def open(self) -> None:
        if self._connection.is_open:
            return
        if self.path != ":memory:" and not Path(self.path).parent.is_dir():
            raise StoreUnavailable(
                f"sqlite store {self.path}: directory {Path(self.path).parent} does not exist"
            )
        await self._connection.open(self.path, busy_timeout=self.busy_timeout)

    async def close(self) -> None:
        """Finish what is queued, then close the file."""
        await self._connection.close()

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """Connection thread, at open: set the file up for durability, bring its schema up to
        date, and load the mirror from it."""
        conn.row_factory = sqlite3.Row
        set_up_file(conn, self.path)
        self.mirror.load(conn)

    async def ping(self) -> None:
        await self._call(lambda conn: conn.execute("SELECT 1").fetchone(), writes=False)

    # --- one-shot keys ---
    async def remember(self, key: str, ttl: float, now: float) -> bool:
        """A key still stored is answered from the mirror; a new one waits for its write."""
        self._require_open()
        if self.mirror.contains(key, now):
            return False
        run = functools.partial(queries.remember, key=key, ttl=ttl, now=now)
        return await self._call(run, mirrored=lambda: self.mirror.set_key(key, now + ttl))

    async def forget(self, key: str) -> bool:
        self._require_open()
        if key not in self.mirror.keys:
            return False  # the mirror holds every stored or queued key: nothing to delete
        sql = "DELETE FROM keys WHERE key = ?"

        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(sql, (key,)).rowcount

        return await self._call(run, mirrored=lambda: self.mirror.drop_key(key)) > 0

    async def contains(self, key: str, now: float) -> bool:
        self._require_open()
        return self.mirror.contains(key, now)

    # --- dedupe entries ---
    async def get_dedupe(self, keys: Sequence[str], now: float) -> dict[str, DedupeEntry]:
        self._require_open()
        return self.mirror.get_dedupe(keys, now)

    async def put_dedupe(self, entries: dict[str, DedupeEntry], ttl: float) -> None:
        rows = dedupe_rows([(entries, ttl)])
        mirror_rows = _mirror_rows([(entries, ttl)])
        await self._call(
            lambda conn: conn.executemany(PUT_DEDUPE, rows),
            mirrored=lambda: self.mirror.put_dedupe(mirror_rows),
        )

    def dedupe_entries(self) -> int:
        """Counted in the mirror (the table's rows, committed or queued): no thread hop."""
        return len(self.mirror.dedupe)

    # --- outbox ---
    async def enqueue(
        self,
        notifications: Sequence[Notification],
        dedupe: Sequence[tuple[dict[str, DedupeEntry], float]] = (),
        records: Sequence[RecordWrite] = (),
    ) -> None:
        """Persist as pending, committed before this returns; an id already stored is kept as is.

        One operation, so one savepoint: the rows, dedupe entries and records commit together."""
        rows = [to_row(n) for n in notifications]
        dedupe_values = dedupe_rows(dedupe)
        puts, deletes = record_rows(records)

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(INSERT_OUTBOX, rows)
            if dedupe_values:
                conn.executemany(PUT_DEDUPE, dedupe_values)
            if puts:
                conn.executemany(PUT_RECORD, puts)
            if deletes:
                conn.executemany(DELETE_RECORD, deletes)

        mirror_rows = _mirror_rows(dedupe)
        await self._call(run, mirrored=lambda: self.mirror.put_dedupe(mirror_rows))

    async def claim_due(
        self,
        now: float,
        limit: int,
        exclude_phones: Collection[str] = (),
        per_phone: int | None = None,
    ) -> list[Notification]:
        run = functools.partial(
            queries.claim_due,
            now=now,
            limit=limit,
            exclude=sorted(exclude_phones),
            per_phone=per_phone,
        )
        return await self._call(run)

    async def mark_sent(
        self,
        notification_id: str,
        *,
        now: float,
        provider_id: str | None = None,
        provider_status: str | None = None,
    ) -> None:
        sql = (
            "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, "
            "provider_id = ?, provider_status = ? WHERE id = ?"
        )
        params = (now, provider_id, provider_status, notification_id)
        await self._write(sql, params)

    async def mark_retry(self, notification_id: str, *, error: str, next_attempt_at: float) -> None:
        sql = (
            "UPDATE outbox SET state = 'pending', attempts = attempts + 1, last_error = ?, "
            "next_attempt_at = ? WHERE id = ?"
        )
        params = (error, next_attempt_at, notification_id)
        await self._write(sql, params)

    async def mark_dead(self, notification_id: str, *, error: str, now: float) -> None:
        sql = (
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ?"
        )
        await self._write(sql, (error, notification_id))

    async def requeue_inflight(self) -> int:
        return await self._write("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")

    async def outbox_counts(self) -> dict[NotificationState, int]:
        """By state, as list_notifications selects them: FAILED_DELIVERY counts the failed
        deliveries (which count as sent too)."""
        return await self._call(queries.outbox_counts, writes=False)

    async def sent_since(self, since: float, limit: int) -> dict[str, list[float]]:
        run = functools.partial(queries.sent_since, since=since, limit=limit)
        return await self._call(run, writes=False)

    async def get_notification(self, notification_id: str) -> Notification | None:
        found = await self._select_notifications("WHERE id = ?", (notification_id,))
        return found[0] if found else None

    async def list_notifications(
        self, state: NotificationState | None = None, limit: int = 100
    ) -> list[Notification]:
        """Newest first."""
        where = "" if state is None else "WHERE state = ?"
        params = (max(limit, 0),) if state is None else (state, max(limit, 0))
        if state == FAILED_DELIVERY:
            where, params = f"WHERE {queries.FAILED_DELIVERIES}", (max(limit, 0),)
        order = "ORDER BY created_at DESC, id DESC LIMIT ?"
        return await self._select_notifications(f"{where} {order}", params)

    async def purge_expired(self, now: float, *, finished_before: float | None = None) -> int:
        run = functools.partial(
            queries.purge_expired, now=now, finished_before=finished_before, chunk=PURGE_CHUNK
        )
        return await self._call(run, mirrored=lambda: self.mirror.purge(now))

    # --- delivery status ---
    async def find_notification(
        self,
        *,
        provider_id: str | None = None,
        provider_key: str | None = None,
    ) -> Notification | None:
        """The first of provider_id, provider_key (in that order) that matches."""
        lookups = {"provider_id": provider_id, "provider_key": provider_key}
        run = functools.partial(queries.find_notification, lookups=lookups)
        return await self._call(run, writes=False)

    async def set_delivery_status(
        self,
        notification_id: str,
        *,
        status: str,
        at: float,
        provider_key: str | None = None,
    ) -> None:
        """A provider_key of None keeps the one already recorded."""
        sql = (
            "UPDATE outbox SET delivery_status = ?, delivery_status_at = ?, "
            "provider_key = COALESCE(?, provider_key) WHERE id = ?"
        )
        params = (status, at, provider_key, notification_id)
        await self._write(sql, params)

    # --- dead letters and digests ---
    async def requeue(self, notification_ids: Sequence[str] | None, *, now: float) -> Requeued:
        """One operation, so the count of those left dead matches what was requeued."""
        run = functools.partial(queries.requeue, ids=notification_ids, now=now)
        return await self._call(run)

    async def drop(self, notification_ids: Sequence[str] | None) -> int:
        sql = "DELETE FROM outbox WHERE state = 'dead'"
        return await self._call(functools.partial(queries.for_ids, sql, (), notification_ids))

    async def pending_for(self, phone: str, limit: int = 1000) -> list[Notification]:
        """Oldest first."""
        where = "WHERE phone = ? AND state = 'pending' ORDER BY created_at, id LIMIT ?"
        return await self._select_notifications(where, (phone, max(limit, 0)))

    async def carried_by(self, phone: str, digest_id: str) -> list[Notification]:
        """Oldest first; found through the (phone, state) index."""
        where = "WHERE phone = ? AND state = 'merged' AND merged_into = ? ORDER BY created_at, id"
        return await self._select_notifications(where, (phone, digest_id))

    async def merge_into(self, notification_ids: Sequence[str], digest: Notification) -> int:
        """One operation, so one savepoint: the digest and the merges commit together or not."""
        ids = list(dict.fromkeys(notification_ids))
        run = functools.partial(
            queries.merge_into, ids=ids, digest_id=digest.id, digest_row=to_row(digest)
        )
        return await self._call(run)

    # --- records ---
    async def put_record(
        self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None
    ) -> None:
        await self._write(PUT_RECORD, (kind, key, encode_record(value), expires_at))

    async def get_record(self, kind: str, key: str, now: float) -> dict[str, Any] | None:
        sql = f"SELECT value FROM records WHERE kind = ? AND key = ? AND {UNEXPIRED}"  # noqa: S608

        def run(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(sql, (kind, key, now)).fetchone()
            return None if row is None else decode_record(row[0])

        return await self._call(run, writes=False)

    async def list_records(
        self, kind: str, now: float, *, prefix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        """Unexpired records of one kind whose key starts with `prefix`, ordered by key."""
        sql = (
            f"SELECT key, value FROM records WHERE kind = ? AND {UNEXPIRED} "  # noqa: S608
            "AND key >= ? ORDER BY key"
        )

        def run(conn: sqlite3.Connection) -> list[tuple[str, dict[str, Any]]]:
            found: list[tuple[str, dict[str, Any]]] = []
            for key, value in conn.execute(sql, (kind, now, prefix)):
                if not key.startswith(prefix):
                    break  # ordered by key: past the keys with this prefix
                found.append((key, decode_record(value)))
            return found

        return await self._call(run, writes=False)

    async def delete_record(self, kind: str, key: str) -> bool:
        return await self._write(DELETE_RECORD, (kind, key)) > 0

    # --- statements shared by several methods ---
    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement; how many rows it changed."""
        return await self._call(lambda conn: conn.execute(sql, params).rowcount)

    async def _select_notifications(
        self, clauses: str, params: Sequence[Any]
    ) -> list[Notification]:
        """The outbox rows that the WHERE / ORDER BY / LIMIT clauses select."""
        sql = f"SELECT {OUTBOX_COLUMNS} FROM outbox {clauses}"  # noqa: S608

        def run(conn: sqlite3.Connection) -> list[Notification]:
            return [from_row(row) for row in conn.execute(sql, params)]

        return await self._call(run, writes=False)

    # --- the connection thread ---
    async def _call(
        self,
        run: Callable[[sqlite3.Connection], T],
        *,
        writes: bool = True,
        mirrored: Callable[[], Undo] | None = None,
    ) -> T:
        """Queue run on the connection thread, then wait for its batch to be done.

        `mirrored` applies the write to the mirror at once; its undo runs if the operation fails
        (even when the caller was cancelled meanwhile)."""
        self._require_open()
        undo = mirrored() if mirrored is not None else None
        return await self._connection.call(run, writes=writes, undo=undo)

    def _require_open(self) -> None:
        if not self._connection.is_open:
            raise StoreUnavailable(f"sqlite store {self.path}: the store is not open")


def _mirror_rows(
    batches: Sequence[tuple[dict[str, DedupeEntry], float]],
) -> list[tuple[str, DedupeEntry, float]]:
    """(key, entry, expires_at) of the entries, as the mirror keeps them (and dedupe_rows)."""
    return [(key, e, e.at + ttl) for entries, ttl in batches for key, e in entries.items()]
