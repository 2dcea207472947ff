"""The SQLite store's in-memory dedupe and keys: always the tables' rows, so reads stay exact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from notification_factory import make_notification

from bridge.errors import StoreUnavailable
from bridge.store import SqliteStore
from bridge.store.base import DedupeEntry


def table_rows(path: str) -> tuple[dict[str, DedupeEntry], dict[str, float]]:
    """The dedupe and keys tables as the mirror keeps them (entries with expires_at apart)."""
    with sqlite3.connect(path) as conn:
        dedupe = {
            key: (DedupeEntry(status, at, nid), exp)
            for key, status, at, nid, exp in conn.execute(
                "SELECT key, status, at, notification_id, expires_at FROM dedupe"
            )
        }
        keys = dict(conn.execute("SELECT key, expires_at FROM keys").fetchall())
    return dedupe, keys  # type: ignore[return-value]


def mirror_rows(store: SqliteStore) -> tuple[dict[str, object], dict[str, float]]:
    return dict(store.mirror.dedupe), dict(store.mirror.keys)


async def write_a_bit_of_everything(store: SqliteStore) -> None:
    await store.enqueue(
        [make_notification("n1")],
        [({"a": DedupeEntry("firing", 100.0, "n1"), "b": DedupeEntry("resolved", 100.0)}, 60.0)],
    )
    await store.put_dedupe({"c": DedupeEntry("firing", 10.0, "n0")}, ttl=5.0)  # expired at 15
    await store.put_dedupe({"a": DedupeEntry("resolved", 110.0)}, ttl=60.0)
    assert await store.remember("k-kept", ttl=60, now=100) is True
    assert await store.remember("k-kept", ttl=60, now=101) is False
    assert await store.remember("k-gone", ttl=60, now=100) is True
    assert await store.remember("k-old", ttl=1, now=10) is True
    assert await store.forget("k-gone") is True
    assert await store.forget("k-never") is False
    assert await store.purge_expired(now=50) == 2  # "c" and "k-old"


async def test_mirror_equals_the_tables_after_writes_and_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "bridge.db")
    store = SqliteStore(path)
    await store.open()
    await write_a_bit_of_everything(store)
    assert mirror_rows(store) == table_rows(path)
    assert set(store.mirror.dedupe) == {"a", "b"} and set(store.mirror.keys) == {"k-kept"}
    await store.close()

    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert mirror_rows(reopened) == table_rows(path)
        assert await reopened.get_dedupe(["a", "b", "c"], now=120.0) == {
            "a": DedupeEntry("resolved", 110.0),
            "b": DedupeEntry("resolved", 100.0),
        }
        assert await reopened.contains("k-kept", now=120.0) is True
        assert await reopened.remember("k-kept", ttl=60, now=120.0) is False
    finally:
        await reopened.close()


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.put_dedupe({"a": DedupeEntry("resolved", 200.0)}, ttl=60.0),
        lambda s: s.enqueue(
            [make_notification("n2")], [({"a": DedupeEntry("resolved", 200.0)}, 60.0)]
        ),
        lambda s: s.remember("k-new", ttl=60, now=200.0),
        lambda s: s.forget("k-kept"),
        lambda s: s.purge_expired(now=10_000.0),
    ],
    ids=["put_dedupe", "enqueue", "remember", "forget", "purge_expired"],
)
async def test_write_that_fails_leaves_the_mirror_equal_to_the_tables(
    tmp_path: Path, write: object
) -> None:
    path = str(tmp_path / "bridge.db")
    store = SqliteStore(path, busy_timeout=0.05)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await write_a_bit_of_everything(store)
        before = mirror_rows(store)
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable):
            await write(store)  # type: ignore[operator]
        other.execute("ROLLBACK")
        assert mirror_rows(store) == before == table_rows(path)
        assert await store.get_dedupe(["a"], now=120.0) == {"a": DedupeEntry("resolved", 110.0)}
    finally:
        other.close()
        await store.close()


async def test_dedupe_reads_on_a_closed_store_are_store_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "bridge.db"))
    for read in (store.get_dedupe(["a"], now=1.0), store.contains("k", now=1.0)):
        with pytest.raises(StoreUnavailable, match="not open"):
            await read
