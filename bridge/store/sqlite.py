"""The durable embedded Store: one SQLite file, one connection, one worker thread, group commit.

Every call becomes an operation on a queue; the worker thread takes everything queued, runs it in
one transaction and commits once, so many concurrent enqueues share a commit (group commit) and
reads always see the writes queued before them. The thread then hands the whole batch back to
the event loop at once: two thread switches per batch, not per call. Dedupe entries and one-shot
keys are also mirrored in memory (`sqlite_mirror`), so their reads, the ones every webhook
makes, answer without waiting at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import structlog

from bridge.errors import StoreUnavailable
from bridge.model import Notification, NotificationState
from bridge.store.base import DELIVERED_STATUSES, DedupeEntry, RecordWrite, Requeued
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

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

log = structlog.get_logger("alertbridge.store")
_STATES: tuple[NotificationState, ...] = get_args(NotificationState)
# Finished notifications one purge deletes at most (the next purge, a minute later, goes on).
PURGE_CHUNK = 10_000
T = TypeVar("T")


@dataclass(slots=True)
class _Operation:
    """One queued call: what to run on the connection, and its outcome once the batch is done."""

    run: Callable[[sqlite3.Connection], Any]
    writes: bool
    # Puts the mirror back should this operation fail (its write was mirrored when queued).
    undo: Undo | None = None
    # The caller's: settled on the event loop once the batch is done (None: nobody waits).
    done: asyncio.Future[Any] | None = None
    result: Any = None
    error: BaseException | None = None


class SqliteStore:
    """The Store protocol on a SQLite file; `commits` counts transactions committed (for tests)."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        # How long to wait for another process holding the file's write lock before giving up.
        self.busy_timeout = busy_timeout
        self.commits = 0
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._queue: list[_Operation] = []
        # Guards the queue and `_closing`; the worker thread waits on it for work.
        self._work = threading.Condition()
        self._closing = False
        self._stopped: asyncio.Future[None] | None = None  # settled once the file is closed
        # Dedupe entries and keys in memory (public so tests can compare it with the tables).
        self.mirror = DedupeMirror()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ---
    async def open(self) -> None:
        if self._thread is not None:
            return
        if self.path != ":memory:" and not Path(self.path).parent.is_dir():
            raise StoreUnavailable(
                f"sqlite store {self.path}: directory {Path(self.path).parent} does not exist"
            )
        loop = self._loop = asyncio.get_running_loop()
        connected: asyncio.Future[None] = loop.create_future()
        with self._work:
            self._closing = False
        thread = threading.Thread(
            target=self._serve, args=(connected,), name="alertbridge-sqlite", daemon=True
        )
        self._thread = thread  # set first: a second open() returns, close() can stop it
        thread.start()
        try:
            await connected
        except asyncio.CancelledError:
            if self._thread is thread:
                self._thread = None
                self._stop_serving()  # the thread ends once it has connected (or failed to)
            raise
        except BaseException:
            if self._thread is thread:  # the connection failed: the thread has ended already
                self._thread = None
            raise

    async def close(self) -> None:
        """Finish what is queued, then close the file."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop_serving()
        stopped = self._stopped
        if stopped is not None:  # also when another close() is already waiting for it
            await asyncio.shield(stopped)
            if self._stopped is stopped:
                self._stopped = None

    def _stop_serving(self) -> None:
        assert self._loop is not None
        self._stopped = self._loop.create_future()
        with self._work:
            self._closing = True
            self._work.notify()

    async def ping(self) -> None:
        await self._call(lambda conn: conn.execute("SELECT 1").fetchone(), writes=False)

    # --- one-shot keys ---
    async def remember(self, key: str, ttl: float, now: float) -> bool:
        """A key still stored is answered from the mirror; a new one waits for its write."""
        self._require_open()
        if self.mirror.contains(key, now):
            return False
        run = functools.partial(_remember, key=key, ttl=ttl, now=now)
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
        self, now: float, limit: int, exclude_phones: Collection[str] = ()
    ) -> list[Notification]:
        return await self._call(
            functools.partial(_claim_due, now=now, limit=limit, exclude=sorted(exclude_phones))
        )

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
        def run(conn: sqlite3.Connection) -> dict[NotificationState, int]:
            counts: dict[NotificationState, int] = dict.fromkeys(_STATES, 0)
            for state, count in conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
                counts[state] = count
            return counts

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
        order = "ORDER BY created_at DESC, id DESC LIMIT ?"
        return await self._select_notifications(f"{where} {order}", params)

    async def purge_expired(self, now: float, *, finished_before: float | None = None) -> int:
        def run(conn: sqlite3.Connection) -> int:
            keys = conn.execute("DELETE FROM keys WHERE expires_at <= ?", (now,)).rowcount
            dedupe = conn.execute("DELETE FROM dedupe WHERE expires_at <= ?", (now,)).rowcount
            records = conn.execute("DELETE FROM records WHERE expires_at <= ?", (now,)).rowcount
            finished = 0
            if finished_before is not None:
                # At most a chunk per purge: the first purge after an upgrade may find a
                # years-long outbox, and every webhook waits while this thread deletes.
                sql = (
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                    "WHERE state IN ('sent', 'merged') AND COALESCE(sent_at, created_at) < ? "
                    "LIMIT ?)"
                )
                finished = conn.execute(sql, (finished_before, PURGE_CHUNK)).rowcount
            return keys + dedupe + records + finished

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
        run = functools.partial(_find_notification, lookups=lookups)
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
        delivered = ", ".join("?" * len(DELIVERED_STATUSES))  # placeholders: no text is spliced
        requeue = (
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, "  # noqa: S608
            "last_error = NULL WHERE state = 'dead' "
            f"AND (delivery_status IS NULL OR delivery_status NOT IN ({delivered}))"
        )
        count_delivered = (
            "SELECT COUNT(*) FROM outbox WHERE state = 'dead' "  # noqa: S608
            f"AND delivery_status IN ({delivered})"
        )
        statuses = tuple(sorted(DELIVERED_STATUSES))

        def run(conn: sqlite3.Connection) -> Requeued:
            if notification_ids is None:
                skipped = conn.execute(count_delivered, statuses).fetchone()[0]
            else:
                skipped = sum(
                    conn.execute(f"{count_delivered} AND id = ?", (*statuses, nid)).fetchone()[0]
                    for nid in set(notification_ids)
                )
            requeued = _for_ids(requeue, (now, *statuses), notification_ids, conn)
            return Requeued(requeued, skipped_delivered=skipped)

        return await self._call(run)

    async def drop(self, notification_ids: Sequence[str] | None) -> int:
        sql = "DELETE FROM outbox WHERE state = 'dead'"
        return await self._call(functools.partial(_for_ids, sql, (), notification_ids))

    async def pending_for(self, phone: str, limit: int = 1000) -> list[Notification]:
        """Oldest first."""
        where = "WHERE phone = ? AND state = 'pending' ORDER BY created_at, id LIMIT ?"
        return await self._select_notifications(where, (phone, max(limit, 0)))

    async def merge_into(self, notification_ids: Sequence[str], digest: Notification) -> int:
        """One operation, so one savepoint: the digest and the merges commit together or not."""
        ids = list(dict.fromkeys(notification_ids))
        digest_row = to_row(digest)

        def run(conn: sqlite3.Connection) -> int:
            sql = "UPDATE outbox SET state = 'merged', merged_into = ? WHERE id = ?"
            sql += " AND state = 'pending'"
            merged = sum(
                conn.execute(sql, (digest.id, nid)).rowcount for nid in ids if nid != digest.id
            )
            if merged:
                conn.execute(INSERT_OUTBOX, digest_row)
            return merged

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

    async def list_records(self, kind: str, now: float) -> list[tuple[str, dict[str, Any]]]:
        """Unexpired records of one kind, ordered by key."""
        sql = f"SELECT key, value FROM records WHERE kind = ? AND {UNEXPIRED} ORDER BY key"  # noqa: S608

        def run(conn: sqlite3.Connection) -> list[tuple[str, dict[str, Any]]]:
            return [(key, decode_record(value)) for key, value in conn.execute(sql, (kind, now))]

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

    # --- the queue and the worker thread ---
    async def _call(
        self,
        run: Callable[[sqlite3.Connection], T],
        *,
        writes: bool = True,
        mirrored: Callable[[], Undo] | None = None,
    ) -> T:
        """Queue run, then wait for the worker to have drained the queue past it.

        `mirrored` applies the write to the mirror at once; its undo runs if the operation fails
        (even when the caller was cancelled meanwhile)."""
        self._require_open()
        assert self._loop is not None
        done: asyncio.Future[T] = self._loop.create_future()
        operation = _Operation(run, writes, mirrored() if mirrored is not None else None, done)
        with self._work:
            self._queue.append(operation)
            self._work.notify()
        return await done

    def _require_open(self) -> None:
        if self._thread is None:
            raise StoreUnavailable(f"sqlite store {self.path}: the store is not open")

    # --- the worker thread ---
    def _serve(self, connected: asyncio.Future[None]) -> None:
        """Open the file, then run batches until asked to stop; then close the file."""
        try:
            self._connect()
        except BaseException as exc:  # the caller of open() gets it
            self._to_loop(_settle_one, connected, None, exc)
            if self._stopped is not None and self._closing:  # open() was cancelled meanwhile
                self._to_loop(_settle_one, self._stopped, None, None)
            return
        self._to_loop(_settle_one, connected, None, None)
        error: BaseException | None = None
        try:
            closing = False
            while not closing:
                with self._work:
                    while not self._queue and not self._closing:
                        self._work.wait()
                    batch, self._queue = self._queue, []
                    closing = self._closing
                try:
                    self._run_batch(batch)
                except Exception as exc:  # a bug, not SQLite: fail the batch, keep serving
                    for operation in batch:
                        operation.result, operation.error = None, exc
                # The mirror undos first, then the callers: they wake to the mirror restored.
                self._to_loop(_settle, batch)
        finally:
            try:
                self._disconnect()
            except sqlite3.Error as exc:
                error = self._unavailable(exc)
            if self._stopped is not None:
                self._to_loop(_settle_one, self._stopped, None, error)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(callback, *args)

    def _run_batch(self, batch: list[_Operation]) -> None:
        """Worker thread: run the batch in one transaction and commit once."""
        conn = self._conn
        if conn is None:
            closed = StoreUnavailable(f"sqlite store {self.path}: the store is closed")
            for operation in batch:
                operation.error = closed
            return
        writes = any(operation.writes for operation in batch)
        try:
            if writes:
                conn.execute("BEGIN IMMEDIATE")
            for operation in batch:
                _run_isolated(conn, operation, in_transaction=writes)
            if writes:
                conn.execute("COMMIT")
                self.commits += 1
        except sqlite3.Error as exc:
            _rollback_quietly(conn)
            for operation in batch:
                operation.result, operation.error = None, self._unavailable(exc)
        else:
            for operation in batch:
                if isinstance(operation.error, sqlite3.Error):
                    operation.error = self._unavailable(operation.error)

    def _connect(self) -> None:
        """Worker thread: open the file, set it up for durability, bring its schema up to date."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            set_up_file(conn, self.path)
            self.mirror.load(conn)
        except (sqlite3.Error, StoreUnavailable) as exc:
            conn.close()
            if isinstance(exc, StoreUnavailable):
                raise
            raise self._unavailable(exc) from exc
        self._conn = conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"sqlite store {self.path}: {exc}")


def _run_isolated(conn: sqlite3.Connection, operation: _Operation, *, in_transaction: bool) -> None:
    """Run one operation so that its failure undoes only its own writes and fails only its call."""
    if in_transaction:
        conn.execute("SAVEPOINT operation")
    try:
        operation.result = operation.run(conn)
    except Exception as exc:  # the caller gets it; the rest of the batch goes on
        operation.error = exc
        if in_transaction:
            conn.execute("ROLLBACK TO operation")
    if in_transaction:
        conn.execute("RELEASE operation")


def _mirror_rows(
    batches: Sequence[tuple[dict[str, DedupeEntry], float]],
) -> list[tuple[str, DedupeEntry, float]]:
    """(key, entry, expires_at) of the entries, as the mirror keeps them (and dedupe_rows)."""
    return [(key, e, e.at + ttl) for entries, ttl in batches for key, e in entries.items()]


def _settle(batch: list[_Operation]) -> None:
    """Event loop: put back the mirrored writes of the failed operations (latest first), then
    give every caller still waiting its result or error."""
    for operation in reversed(batch):
        if operation.error is not None and operation.undo is not None:
            try:
                operation.undo()
            except Exception:  # the callers must still wake
                log.exception("store.mirror_undo_failed")
    for operation in batch:
        if operation.done is not None:
            _settle_one(operation.done, operation.result, operation.error)


def _settle_one(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.done():  # the caller was cancelled; the operation ran all the same
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    # If ROLLBACK itself fails, SQLite has already rolled the transaction back on its own.
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _remember(conn: sqlite3.Connection, *, key: str, ttl: float, now: float) -> bool:
    """Insert key, or renew it only if it had expired; the row count says which happened."""
    sql = (
        "INSERT INTO keys (key, expires_at) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
        "WHERE keys.expires_at <= ?"
    )
    return conn.execute(sql, (key, now + ttl, now)).rowcount > 0


def _claim_due(
    conn: sqlite3.Connection, *, now: float, limit: int, exclude: list[str]
) -> list[Notification]:
    """Select the due rows and mark them sending in the same write transaction.

    Each phone's rows in the order they were accepted, none behind an older row of the same
    phone that waits for its retry (`waiting`: normally a handful of rows)."""
    not_in = f"AND phone NOT IN ({', '.join('?' * len(exclude))}) " if exclude else ""
    sql = (
        "WITH waiting AS (SELECT phone, created_at, id FROM outbox "  # noqa: S608
        "WHERE state = 'pending' AND next_attempt_at > ?) "
        f"SELECT {OUTBOX_COLUMNS} FROM outbox "
        f"WHERE state = 'pending' AND next_attempt_at <= ? {not_in}"
        "AND NOT EXISTS (SELECT 1 FROM waiting AS w WHERE w.phone = outbox.phone "
        "AND (w.created_at, w.id) < (outbox.created_at, outbox.id)) "
        "ORDER BY created_at, id LIMIT ?"
    )
    params = (now, now, *exclude, max(limit, 0))
    claimed = [from_row(row) for row in conn.execute(sql, params)]
    conn.executemany("UPDATE outbox SET state = 'sending' WHERE id = ?", [(n.id,) for n in claimed])
    for notification in claimed:
        notification.state = "sending"
    return claimed


def _find_notification(
    conn: sqlite3.Connection, *, lookups: dict[str, str | None]
) -> Notification | None:
    """Try each column with a value in turn; the newest row wins if a value was ever reused."""
    for column, value in lookups.items():
        if value is None:
            continue
        sql = (
            f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {column} = ? "  # noqa: S608
            "ORDER BY created_at DESC, id DESC LIMIT 1"
        )
        row = conn.execute(sql, (value,)).fetchone()
        if row is not None:
            return from_row(row)
    return None


def _for_ids(
    sql: str, params: tuple[Any, ...], ids: Sequence[str] | None, conn: sqlite3.Connection
) -> int:
    """Run sql (whose WHERE clause is last) on every row it selects, or only on ids; row count."""
    if ids is None:
        return conn.execute(sql, params).rowcount
    return sum(conn.execute(f"{sql} AND id = ?", (*params, nid)).rowcount for nid in set(ids))
