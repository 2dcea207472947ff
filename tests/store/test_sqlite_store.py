"""SQLite-only promises: durability across restarts and crashes, group commit, clear failures."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from notification_factory import make_notification

from bridge.errors import StoreUnavailable
from bridge.model import Notification
from bridge.store import SqliteStore
from bridge.store.base import DedupeEntry
from bridge.store.sqlite import PURGE_CHUNK
from bridge.store.sqlite_schema import _MIGRATIONS, OUTBOX_COLUMN_NAMES, SCHEMA_VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]


def with_event_key(nid: str) -> Notification:
    """A notification that carries one event key, so the column round-trips a value."""
    return make_notification(nid, event_keys=[("fp", "firing")])


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "bridge.db")


@pytest.fixture
async def store(db_path: str) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(db_path)
    await opened.open()
    yield opened
    await opened.close()


async def test_everything_survives_close_and_reopen(db_path: str) -> None:
    first = SqliteStore(db_path)
    await first.open()
    await first.enqueue([with_event_key("n1"), with_event_key("n2")])
    await first.claim_due(now=100, limit=1)
    await first.remember("delivery-1", ttl=60, now=100)
    await first.put_dedupe({"a": DedupeEntry("firing", 100, "n1")}, ttl=60)
    await first.close()

    second = SqliteStore(db_path)
    await second.open()
    try:
        assert await second.get_notification("n2") == with_event_key("n2")
        assert await second.requeue_inflight() == 1
        assert await second.contains("delivery-1", now=120) is True
        assert await second.get_dedupe(["a"], now=120) == {"a": DedupeEntry("firing", 100, "n1")}
    finally:
        await second.close()


_ENQUEUE_THEN_SIGKILL = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from bridge.model import Notification
    from bridge.store.sqlite import SqliteStore

    async def main(path: str) -> None:
        store = SqliteStore(path)
        await store.open()
        returned = 0

        async def enqueue_one(i: int) -> None:
            nonlocal returned
            await store.enqueue([Notification(
                id=f"n{i}", route="r", recipient="alice", phone="+972501234567",
                text="t", created_at=1000.0)])
            print(f"n{i}", flush=True)
            returned += 1
            if returned == 50:  # kill with other enqueues still in flight
                os.kill(os.getpid(), signal.SIGKILL)

        await asyncio.gather(*(enqueue_one(i) for i in range(300)))

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_what_enqueue_returned_for_survives_sigkill(db_path: str) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", _ENQUEUE_THEN_SIGKILL, db_path],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    returned = crashed.stdout.split()
    assert len(returned) >= 50

    reopened = SqliteStore(db_path)
    await reopened.open()
    try:
        missing = [nid for nid in returned if await reopened.get_notification(nid) is None]
        assert missing == []
    finally:
        await reopened.close()


async def test_concurrent_enqueues_share_commits(store: SqliteStore) -> None:
    before = store.commits
    await asyncio.gather(*(store.enqueue([with_event_key(f"n{i}")]) for i in range(200)))
    assert store.commits - before <= 20
    assert (await store.outbox_counts())["pending"] == 200


async def test_enqueue_failing_in_the_transaction_keeps_none_of_its_writes(
    store: SqliteStore,
) -> None:
    entry = DedupeEntry("firing", 100.0, "n1")
    bad_record = (None, "g2", {"v": 2}, None)  # kind is NOT NULL: fails inside the transaction
    with pytest.raises(StoreUnavailable):
        await store.enqueue(
            [with_event_key("n1")],
            [({"dd:k": entry}, 60.0)],
            [("group", "g1", {"v": 1}, None), bad_record],  # type: ignore[list-item]
        )
    assert await store.get_notification("n1") is None
    assert await store.get_dedupe(["dd:k"], 120.0) == {}
    assert await store.get_record("group", "g1", now=100) is None
    await store.enqueue([with_event_key("n2")], records=[("group", "g1", {"v": 1}, None)])
    assert await store.get_record("group", "g1", now=100) == {"v": 1}


async def test_reads_see_writes_queued_before_them(store: SqliteStore) -> None:
    remembered, seen = await asyncio.gather(
        store.remember("k", ttl=60, now=100), store.contains("k", now=100)
    )
    assert (remembered, seen) == (True, True)


async def test_reads_alone_commit_nothing(store: SqliteStore) -> None:
    before = store.commits
    await store.get_notification("n1")
    await store.outbox_counts()
    assert store.commits == before


async def test_file_uses_wal_and_records_its_schema_version(store: SqliteStore) -> None:
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(4,)]
    assert SCHEMA_VERSION == max(_MIGRATIONS) == 4  # every migration runs, the newest last


async def test_newer_schema_version_is_refused(db_path: str) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        await SqliteStore(db_path).open()


@pytest.mark.parametrize(
    ("relative_path", "message"),
    [
        ("no-such-dir/bridge.db", "does not exist"),
        ("a-file/bridge.db", "does not exist"),
        (".", "unable to open"),
    ],
    ids=["missing-directory", "parent-is-a-file", "path-is-a-directory"],
)
async def test_unusable_path_is_store_unavailable_naming_it(
    tmp_path: Path, relative_path: str, message: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    path = str(tmp_path / relative_path)
    with pytest.raises(StoreUnavailable, match=message) as raised:
        await SqliteStore(path).open()
    assert path in str(raised.value)


async def test_a_store_that_failed_to_open_closes_at_once_and_can_open_later(
    tmp_path: Path,
) -> None:
    store = SqliteStore(str(tmp_path))  # a directory: the connection fails in the thread
    with pytest.raises(StoreUnavailable, match="unable to open"):
        await store.open()
    await asyncio.wait_for(store.close(), timeout=2)  # nothing to stop, nothing to wait for
    store.path = str(tmp_path / "bridge.db")
    await store.open()
    await store.enqueue([with_event_key("n1")])
    assert await store.get_notification("n1") is not None
    await asyncio.wait_for(store.close(), timeout=2)


async def test_close_while_calls_are_queued_finishes_them_first(db_path: str) -> None:
    store = SqliteStore(db_path)
    await store.open()
    writes = [asyncio.ensure_future(store.enqueue([with_event_key(f"n{i}")])) for i in range(50)]
    await asyncio.sleep(0)  # queued, not yet done
    await asyncio.gather(store.close(), store.close())  # a second close waits for the same end
    await asyncio.gather(*writes)
    reopened = SqliteStore(db_path)
    await reopened.open()
    try:
        assert len(await reopened.list_notifications(limit=100)) == 50
    finally:
        await reopened.close()


async def test_retention_purges_a_long_backlog_a_chunk_at_a_time(store: SqliteStore) -> None:
    total = PURGE_CHUNK + 5
    await store.enqueue([make_notification(f"n{i}", created_at=1000.0) for i in range(total)])
    claimed = await store.claim_due(now=1000, limit=total)
    for n in claimed:
        await store.mark_sent(n.id, now=1100)
    assert await store.purge_expired(now=2000, finished_before=2000) == PURGE_CHUNK
    assert await store.purge_expired(now=2000, finished_before=2000) == 5
    assert await store.list_notifications(limit=10) == []


async def test_calls_on_a_store_not_open_are_store_unavailable(db_path: str) -> None:
    with pytest.raises(StoreUnavailable, match="not open"):
        await SqliteStore(db_path).enqueue([with_event_key("n1")])


async def test_write_lock_held_elsewhere_is_store_unavailable_then_recovers(
    db_path: str,
) -> None:
    store = SqliteStore(db_path, busy_timeout=0.05)
    await store.open()
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.enqueue([with_event_key("n1")])
        other.execute("ROLLBACK")
        await store.enqueue([with_event_key("n2")])
        assert await store.get_notification("n1") is None
        assert await store.get_notification("n2") is not None
    finally:
        other.close()
        await store.close()


# The schema alertbridge wrote before version 2, verbatim: a file made by that release.
_VERSION_1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE keys (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE dedupe (
    key TEXT PRIMARY KEY, status TEXT NOT NULL, at REAL NOT NULL, notification_id TEXT,
    expires_at REAL NOT NULL
);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY, route TEXT NOT NULL, recipient TEXT NOT NULL, phone TEXT NOT NULL,
    text TEXT NOT NULL, image_url TEXT, source TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL, next_attempt_at REAL NOT NULL, created_at REAL NOT NULL,
    last_error TEXT, provider_id TEXT, provider_status TEXT, sent_at REAL,
    event_keys TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
INSERT INTO outbox VALUES ('old-sent', 'r', 'alice', '+972501234567', 'hi', NULL, 'grafana',
    'sent', 1, 0, 1000, NULL, 'bt-1', 'queued', 1001, '[["fp", "firing"]]');
INSERT INTO outbox VALUES ('old-pending', 'r', 'alice', '+972501234567', 'hi', NULL, 'grafana',
    'pending', 0, 0, 1000, NULL, NULL, NULL, NULL, '[]');
INSERT INTO keys VALUES ('delivery-1', 5000);
INSERT INTO dedupe VALUES ('dd', 'firing', 1000, 'old-sent', 5000);
"""

_NEW_INDEXES = {
    "outbox_provider_id",
    "outbox_provider_key",
    "outbox_phone_state",
}


def _write_version_1_file(path: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(_VERSION_1_SCHEMA)


async def test_version_1_file_is_migrated_keeping_its_data(db_path: str) -> None:
    _write_version_1_file(db_path)
    store = SqliteStore(db_path)
    await store.open()
    try:
        old_sent = await store.get_notification("old-sent")
        assert old_sent is not None
        assert (old_sent.state, old_sent.provider_id, old_sent.event_keys) == (
            "sent",
            "bt-1",
            [("fp", "firing")],
        )
        assert (old_sent.delivery_status, old_sent.merged_into, old_sent.provider_key) == (
            None,
            None,
            None,
        )
        assert await store.contains("delivery-1", now=1000) is True
        assert await store.get_dedupe(["dd"], now=1000) == {
            "dd": DedupeEntry("firing", 1000, "old-sent")
        }
        await store.set_delivery_status("old-sent", status="read", at=1002, provider_key="wa-1")
        found = await store.find_notification(provider_key="wa-1")
        assert found is not None and found.id == "old-sent"
        assert await store.merge_into(["old-pending"], with_event_key("digest")) == 1
        await store.put_record("group", "g", {"n": 1})
        assert await store.get_record("group", "g", now=1000) == {"n": 1}
    finally:
        await store.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def _write_version_2_file(path: str) -> None:
    """A file as the version-2 release left it, built by the released migrations 1 and 2, with
    a sent row that has a callback token (the column version 3 drops) and a pending one."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (2)")
        for version in (1, 2):
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO outbox (id, route, recipient, phone, text, image_url, source, state, "
            "attempts, next_attempt_at, created_at, last_error, provider_id, provider_status, "
            "sent_at, event_keys, delivery_status, delivery_status_at, provider_key, "
            "merged_into, callback_token) VALUES ('v2-sent', 'r', 'alice', '+972501234567', "
            "'hi', NULL, 'grafana', 'sent', 1, 0, 1000, NULL, 'bt-1', 'queued', 1001, "
            "'[[\"fp\", \"firing\"]]', 'read', 1002, 'wa-1', NULL, 'tok-1')"
        )
        conn.execute(
            "INSERT INTO outbox (id, route, recipient, phone, text, source, state, attempts, "
            "next_attempt_at, created_at, event_keys) VALUES ('v2-pending', 'r', 'alice', "
            "'+972501234567', 'later', 'grafana', 'pending', 0, 0, 1003, '[]')"
        )


async def test_version_2_file_drops_the_callback_token_keeping_its_rows(db_path: str) -> None:
    _write_version_2_file(db_path)
    with sqlite3.connect(db_path) as conn:  # the file really has what version 3 drops
        assert "callback_token" in {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    store = SqliteStore(db_path)
    await store.open()
    try:
        assert await store.get_notification("v2-sent") == make_notification(
            "v2-sent",
            route="r",
            text="hi",
            source="grafana",
            state="sent",
            attempts=1,
            created_at=1000.0,
            provider_id="bt-1",
            provider_status="queued",
            sent_at=1001.0,
            event_keys=[("fp", "firing")],
            delivery_status="read",
            delivery_status_at=1002.0,
            provider_key="wa-1",
        )
        by_id = await store.find_notification(provider_id="bt-1")
        by_key = await store.find_notification(provider_key="wa-1")
        assert by_id is not None and by_key is not None and by_id.id == by_key.id == "v2-sent"
        [claimed] = await store.claim_due(now=2000, limit=10)
        assert (claimed.id, claimed.text) == ("v2-pending", "later")
        await store.mark_sent("v2-pending", now=2001, provider_id="bt-2")
        sent = await store.get_notification("v2-pending")
        assert sent is not None and (sent.state, sent.provider_id) == ("sent", "bt-2")
    finally:
        await store.close()
    with sqlite3.connect(db_path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(outbox)")]
        indexes = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        version = conn.execute("SELECT version FROM schema_version").fetchall()
    assert "callback_token" not in columns
    assert set(columns) == set(OUTBOX_COLUMN_NAMES)
    assert "outbox_callback_token" not in indexes
    assert {"outbox_due", *_NEW_INDEXES} <= indexes
    assert version == [(SCHEMA_VERSION,)]


@pytest.mark.parametrize(
    "write_old_file", [_write_version_1_file, _write_version_2_file], ids=["v1", "v2"]
)
async def test_migrated_file_has_the_same_schema_as_a_new_one(
    tmp_path: Path, write_old_file: Callable[[str], None]
) -> None:
    migrated, fresh = str(tmp_path / "migrated.db"), str(tmp_path / "fresh.db")
    write_old_file(migrated)
    for path in (migrated, fresh):
        store = SqliteStore(path)
        await store.open()
        await store.close()
    assert _shape(migrated) == _shape(fresh)
    assert {"records", *_NEW_INDEXES} <= set(_shape(fresh))
    assert "outbox_callback_token" not in _shape(fresh)


def _shape(path: str) -> dict[str, list[tuple[object, ...]]]:
    """Each table's columns and each index's columns, whatever the text of the DDL was."""
    with sqlite3.connect(path) as conn:
        objects = conn.execute("SELECT type, name FROM sqlite_master WHERE sql IS NOT NULL")
        return {
            name: conn.execute(
                f"PRAGMA {'table_info' if kind == 'table' else 'index_info'}({name})"
            ).fetchall()
            for kind, name in objects.fetchall()
        }


async def test_reopening_a_current_file_migrates_nothing(db_path: str) -> None:
    for _ in range(2):
        store = SqliteStore(db_path)
        await store.open()
        await store.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ("provider_id = 'x'", "outbox_provider_id"),
        ("provider_key = 'x'", "outbox_provider_key"),
        ("phone = 'x' AND state = 'pending'", "outbox_phone_state"),
    ],
    ids=["provider-id", "provider-key", "pending-for-phone"],
)
async def test_callback_and_digest_lookups_use_an_index(
    store: SqliteStore, lookup: str, index: str
) -> None:
    with sqlite3.connect(store.path) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT id FROM outbox WHERE {lookup}").fetchall()
    assert any(index in str(step) for step in plan), plan


def test_outbox_columns_are_every_notification_field() -> None:
    assert set(OUTBOX_COLUMN_NAMES) == {field.name for field in dataclasses.fields(Notification)}
