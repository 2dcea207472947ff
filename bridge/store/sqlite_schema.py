"""The SQLite store's file layout: the schema, its migrations, and how rows map to our objects.

A new file and an old one take the same path: every migration from the file's version up to
SCHEMA_VERSION runs, in one transaction, so a fresh file is built exactly as an upgraded one.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from collections.abc import Sequence
from typing import Any

from bridge.errors import StoreUnavailable
from bridge.model import Notification
from bridge.store.base import DedupeEntry, RecordWrite

SCHEMA_VERSION = 4
WAL_SIZE_LIMIT = 8 * 1024 * 1024

# Version -> the statements that bring a file from the version before it to this one.
# Never edit a released migration: add the next version instead.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
        """CREATE TABLE IF NOT EXISTS dedupe (
            key TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            at REAL NOT NULL,
            notification_id TEXT,
            expires_at REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS outbox (
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
        )""",
        "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at)",
    ),
    2: (
        "ALTER TABLE outbox ADD COLUMN delivery_status TEXT",
        "ALTER TABLE outbox ADD COLUMN delivery_status_at REAL",
        "ALTER TABLE outbox ADD COLUMN provider_key TEXT",
        "ALTER TABLE outbox ADD COLUMN merged_into TEXT",
        "ALTER TABLE outbox ADD COLUMN callback_token TEXT",
        """CREATE TABLE records (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            expires_at REAL,
            PRIMARY KEY (kind, key)
        )""",
        "CREATE INDEX outbox_provider_id ON outbox (provider_id)",
        "CREATE INDEX outbox_provider_key ON outbox (provider_key)",
        "CREATE INDEX outbox_callback_token ON outbox (callback_token)",
        "CREATE INDEX outbox_phone_state ON outbox (phone, state)",
    ),
    # The per-notification callback token was never used: legacy callback URLs carry a token
    # derived from the notification id instead. DROP COLUMN needs SQLite 3.35 and no index on
    # the column, so the index goes first.
    3: (
        "DROP INDEX outbox_callback_token",
        "ALTER TABLE outbox DROP COLUMN callback_token",
    ),
    # Severity and alertname of each event (Notification.event_briefs), for digests; NULL in
    # rows written before, which read as none.
    4: ("ALTER TABLE outbox ADD COLUMN event_briefs TEXT",),
}

# SQLite learnt DROP COLUMN in 3.35; an older library (some distributions' Python) skips it.
_DROP_COLUMN = "ALTER TABLE outbox DROP COLUMN"

# Column names are Notification's field names, so rows map to it by name.
OUTBOX_COLUMN_NAMES = (
    "id", "route", "recipient", "phone", "text", "image_url", "source", "state", "attempts",
    "next_attempt_at", "created_at", "last_error", "provider_id", "provider_status", "sent_at",
    "event_keys", "delivery_status", "delivery_status_at", "provider_key", "merged_into",
    "event_briefs",
)  # fmt: skip
OUTBOX_COLUMNS = ", ".join(OUTBOX_COLUMN_NAMES)
INSERT_OUTBOX = (
    f"INSERT OR IGNORE INTO outbox ({OUTBOX_COLUMNS}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(OUTBOX_COLUMN_NAMES))})"
)


def set_up_file(conn: sqlite3.Connection, path: str) -> None:
    """Durable journaling, then the schema brought up to date."""
    conn.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL writes each commit to the WAL before returning, so a committed
    # transaction survives the process being killed; only an OS crash or power loss can
    # lose the last commits (FULL would fsync every commit for that, at a large cost).
    conn.execute("PRAGMA synchronous=NORMAL")
    # A large transaction (a storm's group records) grows the WAL file, which SQLite then keeps
    # at that size for good; past this it is cut back whenever the WAL starts over.
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    migrate(conn, path)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the file to SCHEMA_VERSION in one transaction; refuse a file newer than this code."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
        if current > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"sqlite store {path}: schema version {current} is newer than this alertbridge "
                f"supports ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                if statement.startswith(_DROP_COLUMN) and sqlite3.sqlite_version_info < (3, 35):
                    continue  # an unused column left in place is harmless: rows name columns
                conn.execute(statement)
        if current < SCHEMA_VERSION:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


_COLUMN_VALUES = operator.attrgetter(*OUTBOX_COLUMN_NAMES)
_STATE = OUTBOX_COLUMN_NAMES.index("state")
_EVENT_KEYS = OUTBOX_COLUMN_NAMES.index("event_keys")
_EVENT_BRIEFS = OUTBOX_COLUMN_NAMES.index("event_briefs")


def to_row(n: Notification) -> tuple[Any, ...]:
    """The values for INSERT_OUTBOX; a new row is always pending."""
    values = list(_COLUMN_VALUES(n))
    values[_STATE] = "pending"
    values[_EVENT_KEYS] = json.dumps(n.event_keys)  # (fingerprint, status) pairs: JSON arrays
    values[_EVENT_BRIEFS] = json.dumps(n.event_briefs)
    return tuple(values)


def from_row(row: sqlite3.Row) -> Notification:
    """Only event_keys and event_briefs need decoding; every other column is the field of the
    same name."""
    fields = dict(zip(row.keys(), row, strict=True))
    fields["event_keys"] = [(fp, status) for fp, status in json.loads(fields["event_keys"])]
    briefs = json.loads(fields["event_briefs"] or "[]")
    fields["event_briefs"] = [(fp, severity, name) for fp, severity, name in briefs]
    return Notification(**fields)


PUT_DEDUPE = (
    "INSERT OR REPLACE INTO dedupe (key, status, at, notification_id, expires_at) "
    "VALUES (?, ?, ?, ?, ?)"
)


def dedupe_rows(
    batches: Sequence[tuple[dict[str, DedupeEntry], float]],
) -> list[tuple[str, str, float, str | None, float]]:
    """The values for PUT_DEDUPE, from (entries, ttl) pairs."""
    return [
        (key, e.status, e.at, e.notification_id, e.at + ttl)
        for entries, ttl in batches
        for key, e in entries.items()
    ]


# A record whose expires_at is NULL never expires.
UNEXPIRED = "(expires_at IS NULL OR expires_at > ?)"


PUT_RECORD = "INSERT OR REPLACE INTO records (kind, key, value, expires_at) VALUES (?, ?, ?, ?)"
DELETE_RECORD = "DELETE FROM records WHERE kind = ? AND key = ?"


def encode_record(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def record_rows(
    writes: Sequence[RecordWrite],
) -> tuple[list[tuple[str, str, str, float | None]], list[tuple[str, str]]]:
    """The values for PUT_RECORD and for DELETE_RECORD (the writes whose value is None); the
    last write to a (kind, key) wins, as if they ran in order.

    Encoded here, before the transaction, so a value that is not JSON fails the whole call."""
    last = {(kind, key): (value, expires_at) for kind, key, value, expires_at in writes}
    puts = [
        (kind, key, encode_record(value), expires_at)
        for (kind, key), (value, expires_at) in last.items()
        if value is not None
    ]
    deletes = [(kind, key) for (kind, key), (value, _) in last.items() if value is None]
    return puts, deletes


def decode_record(value: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(value)
    return decoded
