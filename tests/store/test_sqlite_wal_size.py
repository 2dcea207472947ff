"""The SQLite store's WAL file shrinks back after a large transaction: SQLite keeps a WAL at its
largest size unless told a limit, so one storm would hold the disk for good."""

from __future__ import annotations

import os
from pathlib import Path

from bridge.store import SqliteStore
from bridge.store.sqlite_schema import WAL_SIZE_LIMIT


async def test_the_wal_is_cut_back_to_its_limit_after_a_large_transaction(tmp_path: Path) -> None:
    path = str(tmp_path / "alertbridge.db")
    store = SqliteStore(path)
    await store.open()
    try:
        big = "x" * (1 << 20)
        await store.enqueue([], [], [("k", f"big-{i}", {"v": big}, None) for i in range(20)])
        assert os.path.getsize(path + "-wal") > 2 * WAL_SIZE_LIMIT  # the storm's size
        # Later small commits start the WAL over once the large one is checkpointed.
        for i in range(5):
            await store.enqueue([], [], [("k", f"small-{i}", {"v": "y"}, None)])
        assert os.path.getsize(path + "-wal") <= WAL_SIZE_LIMIT
        assert (await store.get_record("k", "big-19", 0.0)) == {"v": big}
    finally:
        await store.close()
