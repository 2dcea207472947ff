"""The durable embedded Store: one SQLite file, one connection, one worker thread, group commit.

Every call becomes an operation on a queue; the worker thread takes everything queued, runs it in
one transaction and commits once, so many concurrent enqueues share a commit (group commit) and
reads always see the writes queued before them. The event loop only waits on the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import StoreUnavailable
from bridge.model import Notification, NotificationState
from bridge.store.base import DedupeEntry

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dedupe (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    at REAL NOT NULL,
    notification_id TEXT,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    route TEXT NOT NULL,
    recipient TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    image_url TEXT,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    last_error TEXT,
    provider_id TEXT,
    provider_status TEXT,
    sent_at REAL,
    event_keys TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
"""

_OUTBOX_COLUMN_NAMES = (
    "id", "route", "recipient", "phone", "text", "image_url", "source", "state", "attempts",
    "next_attempt_at", "created_at", "last_error", "provider_id", "provider_status", "sent_at",
    "event_keys",
)  # fmt: skip
_OUTBOX_COLUMNS = ", ".join(_OUTBOX_COLUMN_NAMES)
_STATES: tuple[NotificationState, ...] = ("pending", "sending", "sent", "failed", "dead")
_IN_CHUNK = 500  # stays under SQLite's limit on bound parameters


@dataclass(slots=True)
class _Operation:
    """One queued call: what to run on the connection, and its outcome once the batch is done."""

    run: Callable[[sqlite3.Connection], Any]
    writes: bool
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
        self._executor: ThreadPoolExecutor | None = None
        self._queue: list[_Operation] = []
        self._queue_lock = threading.Lock()

    # --- lifecycle ---
    async def open(self) -> None:
        if self._executor is not None:
            return
        if self.path != ":memory:" and not Path(self.path).parent.is_dir():
            raise StoreUnavailable(
                f"sqlite store {self.path}: directory {Path(self.path).parent} does not exist"
            )
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alertbridge-sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
        finally:
            executor.shutdown(wait=False)

    async def ping(self) -> None:
        await self._call(lambda conn: conn.execute("SELECT 1").fetchone(), writes=False)

    # --- one-shot keys ---
    async def remember(self, key: str, ttl: float, now: float) -> bool:
        return bool(await self._call(functools.partial(_remember, key=key, ttl=ttl, now=now)))

    async def forget(self, key: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM keys WHERE key = ?", (key,)).rowcount > 0

        return bool(await self._call(run))

    async def contains(self, key: str, now: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            sql = "SELECT 1 FROM keys WHERE key = ? AND expires_at > ?"
            return conn.execute(sql, (key, now)).fetchone() is not None

        return bool(await self._call(run, writes=False))

    # --- dedupe entries ---
    async def get_dedupe(self, keys: Sequence[str], now: float) -> dict[str, DedupeEntry]:
        found: dict[str, DedupeEntry] = await self._call(
            functools.partial(_get_dedupe, keys=list(keys), now=now), writes=False
        )
        return found

    async def put_dedupe(self, entries: dict[str, DedupeEntry], ttl: float) -> None:
        rows = _dedupe_rows([(entries, ttl)])
        await self._call(lambda conn: conn.executemany(_PUT_DEDUPE, rows))

    # --- outbox ---
    async def enqueue(
        self,
        notifications: Sequence[Notification],
        dedupe: Sequence[tuple[dict[str, DedupeEntry], float]] = (),
    ) -> None:
        """Persist as pending, committed before this returns; an id already stored is kept as is."""
        rows = [_to_row(n) for n in notifications]
        dedupe_rows = _dedupe_rows(dedupe)
        placeholders = ", ".join("?" * len(_OUTBOX_COLUMN_NAMES))
        sql = f"INSERT OR IGNORE INTO outbox ({_OUTBOX_COLUMNS}) VALUES ({placeholders})"  # noqa: S608

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(sql, rows)
            if dedupe_rows:
                conn.executemany(_PUT_DEDUPE, dedupe_rows)

        await self._call(run)

    async def claim_due(self, now: float, limit: int) -> list[Notification]:
        claimed: list[Notification] = await self._call(
            functools.partial(_claim_due, now=now, limit=limit)
        )
        return claimed

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
        await self._call(lambda conn: conn.execute(sql, params))

    async def mark_retry(self, notification_id: str, *, error: str, next_attempt_at: float) -> None:
        sql = (
            "UPDATE outbox SET state = 'pending', attempts = attempts + 1, last_error = ?, "
            "next_attempt_at = ? WHERE id = ?"
        )
        params = (error, next_attempt_at, notification_id)
        await self._call(lambda conn: conn.execute(sql, params))

    async def mark_dead(self, notification_id: str, *, error: str, now: float) -> None:
        sql = (
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ?"
        )
        await self._call(lambda conn: conn.execute(sql, (error, notification_id)))

    async def requeue_inflight(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            sql = "UPDATE outbox SET state = 'pending' WHERE state = 'sending'"
            return conn.execute(sql).rowcount

        return int(await self._call(run))

    async def outbox_counts(self) -> dict[NotificationState, int]:
        def run(conn: sqlite3.Connection) -> dict[NotificationState, int]:
            counts: dict[NotificationState, int] = dict.fromkeys(_STATES, 0)
            for state, count in conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
                counts[state] = count
            return counts

        counts: dict[NotificationState, int] = await self._call(run, writes=False)
        return counts

    async def get_notification(self, notification_id: str) -> Notification | None:
        def run(conn: sqlite3.Connection) -> Notification | None:
            sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?"  # noqa: S608
            row = conn.execute(sql, (notification_id,)).fetchone()
            return None if row is None else _from_row(row)

        found: Notification | None = await self._call(run, writes=False)
        return found

    async def list_notifications(
        self, state: NotificationState | None = None, limit: int = 100
    ) -> list[Notification]:
        """Newest first."""

        def run(conn: sqlite3.Connection) -> list[Notification]:
            where = "" if state is None else "WHERE state = ?"
            sql = (
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox {where} "  # noqa: S608
                "ORDER BY created_at DESC, id DESC LIMIT ?"
            )
            params: tuple[Any, ...] = (max(limit, 0),) if state is None else (state, max(limit, 0))
            return [_from_row(row) for row in conn.execute(sql, params)]

        found: list[Notification] = await self._call(run, writes=False)
        return found

    async def purge_expired(self, now: float) -> int:
        def run(conn: sqlite3.Connection) -> int:
            keys = conn.execute("DELETE FROM keys WHERE expires_at <= ?", (now,)).rowcount
            dedupe = conn.execute("DELETE FROM dedupe WHERE expires_at <= ?", (now,)).rowcount
            return keys + dedupe

        return int(await self._call(run))

    # --- the queue and the worker thread ---
    async def _call(self, run: Callable[[sqlite3.Connection], Any], *, writes: bool = True) -> Any:
        """Queue run, then wait for the worker to have drained the queue past it."""
        executor = self._executor
        if executor is None:
            raise StoreUnavailable(f"sqlite store {self.path}: the store is not open")
        operation = _Operation(run, writes)
        with self._queue_lock:
            self._queue.append(operation)
        # The worker runs jobs in order, so once this drain is done, so is our operation:
        # either an earlier drain took it along, or this one does.
        await asyncio.get_running_loop().run_in_executor(executor, self._drain)
        if operation.error is not None:
            raise operation.error
        return operation.result

    def _drain(self) -> None:
        """Worker thread: run everything queued in one transaction and commit once."""
        with self._queue_lock:
            batch, self._queue = self._queue, []
        if not batch:
            return
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
        """Worker thread: open the file, set it up for durability, create the schema."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode, NORMAL writes each commit to the WAL before returning, so a committed
            # transaction survives the process being killed; only an OS crash or power loss can
            # lose the last commits (FULL would fsync every commit for that, at a large cost).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            _check_schema_version(conn, self.path)
        except (sqlite3.Error, StoreUnavailable) as exc:
            conn.close()
            if isinstance(exc, StoreUnavailable):
                raise
            raise self._unavailable(exc) from exc
        self._conn = conn

    def _disconnect(self) -> None:
        self._drain()
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


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    # If ROLLBACK itself fails, SQLite has already rolled the transaction back on its own.
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _check_schema_version(conn: sqlite3.Connection, path: str) -> None:
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    if row[0] is None:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    elif row[0] > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"sqlite store {path}: schema version {row[0]} is newer than this alertbridge "
            f"supports ({SCHEMA_VERSION})"
        )


def _remember(conn: sqlite3.Connection, *, key: str, ttl: float, now: float) -> bool:
    """Insert key, or renew it only if it had expired; the row count says which happened."""
    sql = (
        "INSERT INTO keys (key, expires_at) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
        "WHERE keys.expires_at <= ?"
    )
    return conn.execute(sql, (key, now + ttl, now)).rowcount > 0


def _get_dedupe(conn: sqlite3.Connection, *, keys: list[str], now: float) -> dict[str, DedupeEntry]:
    found: dict[str, DedupeEntry] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        sql = (
            "SELECT key, status, at, notification_id FROM dedupe "  # noqa: S608
            f"WHERE key IN ({', '.join('?' * len(chunk))}) AND expires_at > ?"
        )
        for key, status, at, notification_id in conn.execute(sql, (*chunk, now)):
            found[key] = DedupeEntry(status=status, at=at, notification_id=notification_id)
    return found


_PUT_DEDUPE = (
    "INSERT OR REPLACE INTO dedupe (key, status, at, notification_id, expires_at) "
    "VALUES (?, ?, ?, ?, ?)"
)


def _dedupe_rows(
    batches: Sequence[tuple[dict[str, DedupeEntry], float]],
) -> list[tuple[str, str, float, str | None, float]]:
    return [
        (key, e.status, e.at, e.notification_id, e.at + ttl)
        for entries, ttl in batches
        for key, e in entries.items()
    ]


def _claim_due(conn: sqlite3.Connection, *, now: float, limit: int) -> list[Notification]:
    """Select the due rows and mark them sending in the same write transaction."""
    sql = (
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox "  # noqa: S608
        "WHERE state = 'pending' AND next_attempt_at <= ? "
        "ORDER BY next_attempt_at, created_at, id LIMIT ?"
    )
    claimed = [_from_row(row) for row in conn.execute(sql, (now, max(limit, 0)))]
    conn.executemany("UPDATE outbox SET state = 'sending' WHERE id = ?", [(n.id,) for n in claimed])
    for notification in claimed:
        notification.state = "sending"
    return claimed


def _to_row(n: Notification) -> tuple[Any, ...]:
    return (
        n.id,
        n.route,
        n.recipient,
        n.phone,
        n.text,
        n.image_url,
        n.source,
        "pending",
        n.attempts,
        n.next_attempt_at,
        n.created_at,
        n.last_error,
        n.provider_id,
        n.provider_status,
        n.sent_at,
        json.dumps([list(pair) for pair in n.event_keys]),
    )


def _from_row(row: sqlite3.Row) -> Notification:
    """Column names are Notification's field names; only event_keys needs decoding."""
    fields = dict(zip(row.keys(), row, strict=True))
    fields["event_keys"] = [(fp, status) for fp, status in json.loads(fields["event_keys"])]
    return Notification(**fields)
