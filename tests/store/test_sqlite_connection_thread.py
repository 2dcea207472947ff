"""The SQLite connection thread: a batch whose writes cannot commit still answers its reads."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from bridge.errors import StoreUnavailable
from bridge.store.sqlite_thread import ConnectionThread


def _create_table(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")


async def test_a_read_batched_with_a_write_that_cannot_lock_the_file_still_answers(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "thread.db")
    thread = ConnectionThread(_create_table)
    await thread.open(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock (WAL: reads go on)
    started, gate = threading.Event(), threading.Event()

    def held_read(conn: sqlite3.Connection) -> None:
        started.set()
        gate.wait(5.0)

    try:
        busy = asyncio.ensure_future(thread.call(held_read, writes=False, undo=None))
        assert await asyncio.to_thread(started.wait, 5.0), "the thread never took the first read"
        # Both are queued while the thread is busy, so they run as one batch.
        write = asyncio.ensure_future(
            thread.call(lambda c: c.execute("INSERT INTO t VALUES (2)"), writes=True, undo=None)
        )
        read = asyncio.ensure_future(
            thread.call(
                lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0], writes=False, undo=None
            )
        )
        await asyncio.sleep(0)  # let both calls queue their operations
        gate.set()
        await busy
        with pytest.raises(StoreUnavailable, match="database is locked"):
            await write
        assert await read == 1
    finally:
        gate.set()
        other.execute("ROLLBACK")
        other.close()
        await thread.close()
