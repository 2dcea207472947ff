"""The SQLite store's statements that take more than one query: they run on its connection thread.

Each takes the connection first and keyword arguments after, as ConnectionThread.call passes them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bridge.model import Notification
from bridge.store.base import resend_of
from bridge.store.sqlite_schema import INSERT_OUTBOX, OUTBOX_COLUMNS, from_row, to_row

# The WHERE condition of base.FAILED_DELIVERY: sent, reported failed, not resent yet.
FAILED_DELIVERIES = "state = 'sent' AND delivery_status = 'failed' AND merged_into IS NULL"


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
