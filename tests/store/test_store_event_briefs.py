"""Each notification keeps the severity and alertname of its events (`event_briefs`) in every
store, for the digests that rank and name them; a SQLite file written before they were kept
reads its rows as having none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.store import SqliteStore, Store
from bridge.store.sqlite_schema import _MIGRATIONS, SCHEMA_VERSION

PHONE = "+972501234567"
BRIEFS = [("fp-db", "critical", "DbDown"), ("fp-disk", "", "Disk_Full ×")]


async def test_briefs_are_read_back_wherever_a_digest_reads_the_outbox(store: Store) -> None:
    keys = [("fp-db", "firing"), ("fp-disk", "resolved")]
    await store.enqueue([make_notification("n1", event_keys=keys, event_briefs=BRIEFS)])
    stored = await store.get_notification("n1")
    assert stored is not None and stored.event_briefs == BRIEFS
    [pending] = await store.pending_for(PHONE)
    assert pending.event_briefs == BRIEFS
    digest = make_notification("d1", source="digest", event_keys=keys)
    assert await store.merge_into(["n1"], digest) == 1
    [carried] = await store.carried_by(PHONE, "d1")
    assert carried.event_briefs == BRIEFS


async def test_rows_of_a_version_3_file_read_as_having_no_briefs(tmp_path: Path) -> None:
    path = str(tmp_path / "v3.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (3)")
        for version in (1, 2, 3):
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO outbox (id, route, recipient, phone, text, source, state, attempts, "
            "next_attempt_at, created_at, event_keys) VALUES ('v3-pending', 'r', 'alice', "
            f"'{PHONE}', 'disk full', 'alertmanager', 'pending', 0, 0, 1000, "
            '\'[["fp", "firing"]]\')'
        )
    store = SqliteStore(path)
    await store.open()
    try:
        [pending] = await store.pending_for(PHONE)
        assert (pending.id, pending.event_keys, pending.event_briefs) == (
            "v3-pending",
            [("fp", "firing")],
            [],
        )
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
