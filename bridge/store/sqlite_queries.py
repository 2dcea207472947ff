"""The SQLite store's statements that take more than one query: they run on its connection thread.

Each takes the connection first and keyword arguments after, as ConnectionThread.call passes them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, get_args

from bridge.model import Notification, NotificationState
from bridge.store.base import (
    DELIVERED_STATUSES,
    FAILED_DELIVERY,
    REQUEUED_NOTE,
    Requeued,
    resend_of,
)
from bridge.store.sqlite_schema import (
    INSERT_OUTBOX,
    OUTBOX_COLUMN_NAMES,
    OUTBOX_COLUMNS,
    from_row,
    to_row,
)

# The WHERE condition of base.FAILED_DELIVERY: sent, reported failed, not resent yet.
FAILED_DELIVERIES = "state = 'sent' AND delivery_status = 'failed' AND merged_into IS NULL"
_STATES: tuple[NotificationState, ...] = get_args(NotificationState)
_COLUMN = {name: index for index, name in enumerate(OUTBOX_COLUMN_NAMES)}
# What a waiting digest's row takes from the digest that replaces it (Store.merge_into).
_TAKE_IN = ("route", "text", "created_at", "event_keys", "next_attempt_at")
_TAKE_IN_SQL = f"UPDATE outbox SET {' = ?, '.join(_TAKE_IN)} = ? WHERE id = ?"  # noqa: S608
_DELIVERED = ", ".join("?" * len(DELIVERED_STATUSES))  # placeholders: no text is spliced
_DELIVERED_STATUSES = tuple(sorted(DELIVERED_STATUSES))
_REQUEUE_DEAD = (
    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, "  # noqa: S608
    "last_error = ? || COALESCE(last_error, '') WHERE state = 'dead' "
    f"AND (delivery_status IS NULL OR delivery_status NOT IN ({_DELIVERED}))"
)
_COUNT_DELIVERED_DEAD = (
    "SELECT COUNT(*) FROM outbox WHERE state = 'dead' "  # noqa: S608
    f"AND delivery_status IN ({_DELIVERED})"
)


def remember(conn: sqlite3.Connection, *, key: str, ttl: float, now: float) -> bool:
    """Insert key, or renew it only if it had expired; the row count says which happened."""
    sql = (
        "INSERT INTO keys (key, expires_at) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
        "WHERE keys.expires_at <= ?"
    )
    return conn.execute(sql, (key, now + ttl, now)).rowcount > 0


def claim_due(
    conn: sqlite3.Connection,
    *,
    now: float,
    limit: int,
    exclude: list[str],
    per_phone: int | None,
) -> list[Notification]:
    """Select the due rows and mark them sending in the same write transaction.

    Each phone's rows in the order they were accepted, none behind an older row of the same
    phone that waits for its retry (`waiting`: normally a handful of rows). A phone that has its
    `per_phone` claimed is left out of the next select, which fills what it left over."""
    claimed: list[Notification] = []
    per_phone_claimed: dict[str, int] = {}
    exclude = list(exclude)
    while len(claimed) < limit:
        wanted = limit - len(claimed)
        selected = select_due(conn, now=now, limit=wanted, exclude=exclude)
        taken: list[Notification] = []
        for notification in selected:
            count = per_phone_claimed.get(notification.phone, 0)
            if per_phone is not None and count >= per_phone:
                if notification.phone not in exclude:
                    exclude.append(notification.phone)
                continue
            per_phone_claimed[notification.phone] = count + 1
            taken.append(notification)
        sql = "UPDATE outbox SET state = 'sending' WHERE id = ?"
        conn.executemany(sql, [(n.id,) for n in taken])
        claimed.extend(taken)
        if len(selected) < wanted or per_phone is None:
            break  # nothing more is due, or nothing was left out
    for notification in claimed:
        notification.state = "sending"
    return claimed


def select_due(
    conn: sqlite3.Connection, *, now: float, limit: int, exclude: list[str]
) -> list[Notification]:
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
    return [from_row(row) for row in conn.execute(sql, params)]


def sent_since(conn: sqlite3.Connection, *, since: float, limit: int) -> dict[str, list[float]]:
    """Each phone's send times since `since`, oldest first (the newest `limit` only). No index
    has sent_at: it reads the sent rows kept (store.retention), ~20 ms per 100,000, once, as the
    worker starts."""
    sql = (
        "SELECT phone, sent_at FROM outbox WHERE state = 'sent' AND sent_at >= ? "
        "ORDER BY sent_at DESC LIMIT ?"
    )
    by_phone: dict[str, list[float]] = {}
    for phone, at in reversed(conn.execute(sql, (since, max(limit, 0))).fetchall()):
        by_phone.setdefault(phone, []).append(at)
    return by_phone


def outbox_counts(conn: sqlite3.Connection) -> dict[NotificationState, int]:
    """By state, as list_notifications selects them: FAILED_DELIVERY counts the failed
    deliveries (which count as sent too)."""
    counts: dict[NotificationState, int] = dict.fromkeys(_STATES, 0)
    for state, count in conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
        counts[state] = count
    # Reads every sent row kept (no index says which failed): ~2.5 ms per 10,000.
    failed = f"SELECT COUNT(*) FROM outbox WHERE {FAILED_DELIVERIES}"  # noqa: S608
    counts[FAILED_DELIVERY] = conn.execute(failed).fetchone()[0]
    return counts


def purge_expired(
    conn: sqlite3.Connection, *, now: float, finished_before: float | None, chunk: int
) -> int:
    """Delete expired keys, dedupe entries and records, and up to `chunk` finished rows."""
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
        finished = conn.execute(sql, (finished_before, chunk)).rowcount
    return keys + dedupe + records + finished


def find_notification(
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


def for_ids(
    sql: str, params: tuple[Any, ...], ids: Sequence[str] | None, conn: sqlite3.Connection
) -> int:
    """Run sql (whose WHERE clause is last) on every row it selects, or only on ids; row count."""
    if ids is None:
        return conn.execute(sql, params).rowcount
    return sum(conn.execute(f"{sql} AND id = ?", (*params, nid)).rowcount for nid in set(ids))


def requeue(conn: sqlite3.Connection, *, ids: Sequence[str] | None, now: float) -> Requeued:
    """Dead rows among ids (all when None) back to pending, unless Blueticks reported them
    delivered (counted as skipped), and the failed deliveries among them sent again."""
    statuses = _DELIVERED_STATUSES
    if ids is None:
        skipped = conn.execute(_COUNT_DELIVERED_DEAD, statuses).fetchone()[0]
    else:
        skipped = sum(
            conn.execute(f"{_COUNT_DELIVERED_DEAD} AND id = ?", (*statuses, nid)).fetchone()[0]
            for nid in set(ids)
        )
    params = (now, REQUEUED_NOTE, *statuses)
    requeued = for_ids(_REQUEUE_DEAD, params, ids, conn)
    resent = resend_failed(conn, ids=ids, now=now)
    return Requeued(requeued + len(resent), skipped, tuple(resent))


def merge_into(
    conn: sqlite3.Connection, *, ids: list[str], digest_id: str, digest_row: tuple[Any, ...]
) -> int:
    """Merge the pending ids into the digest: insert its row, or update the waiting one's."""
    waiting = conn.execute(
        "SELECT state, attempts, last_error FROM outbox WHERE id = ?", (digest_id,)
    ).fetchone()
    if waiting is not None and tuple(waiting) != ("pending", 0, None):
        return 0  # claimed, sent or ever tried: what it says can no longer change
    sql = "UPDATE outbox SET state = 'merged', merged_into = ? WHERE id = ?"
    sql += " AND state = 'pending'"
    merged = sum(conn.execute(sql, (digest_id, nid)).rowcount for nid in ids if nid != digest_id)
    if merged and waiting is None:
        conn.execute(INSERT_OUTBOX, digest_row)
    elif merged:
        take_in_values = (*(digest_row[_COLUMN[name]] for name in _TAKE_IN), digest_id)
        conn.execute(_TAKE_IN_SQL, take_in_values)
    return merged


def resend_failed(
    conn: sqlite3.Connection, *, ids: Sequence[str] | None, now: float
) -> list[tuple[str, str]]:
    """Send the failed deliveries among ids (all when None) again as new notifications; each
    (failed id, resend id), in the order of ids (else oldest first)."""
    sql = f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {FAILED_DELIVERIES}"  # noqa: S608
    if ids is None:
        rows = conn.execute(f"{sql} ORDER BY created_at, id").fetchall()
    else:
        rows = [
            row for nid in dict.fromkeys(ids) for row in conn.execute(f"{sql} AND id = ?", (nid,))
        ]
    resent: list[tuple[str, str]] = []
    for row in rows:
        failed = from_row(row)
        resend = resend_of(failed, now=now)
        conn.execute(INSERT_OUTBOX, to_row(resend))
        conn.execute("UPDATE outbox SET merged_into = ? WHERE id = ?", (resend.id, failed.id))
        resent.append((failed.id, resend.id))
    return resent
