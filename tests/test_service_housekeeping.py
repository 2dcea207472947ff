"""The running bridge keeps its state bounded: expired entries leave the store on their own."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import wait_until, write_config

from bridge.delivery.sender import DryRunSender
from bridge.runtime import load_runtime
from bridge.service import Bridge
from bridge.store.base import DedupeEntry


async def test_expired_dedupe_entries_and_keys_are_purged_while_running(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    bridge = Bridge(load_runtime(str(config)), sender=DryRunSender(), purge_interval=0.02)
    await bridge.start()
    try:
        past = time.time() - 100
        await bridge.store.put_dedupe({"dd:old": DedupeEntry("firing", past)}, ttl=1)
        await bridge.store.put_dedupe({"dd:live": DedupeEntry("firing", time.time())}, ttl=3600)
        await bridge.store.remember("delivery:old", ttl=1, now=past)

        async def purged() -> bool:
            # Read through a second connection: only rows really deleted are gone from it.
            import sqlite3

            with sqlite3.connect(tmp_path / "alertbridge.db") as conn:
                keys = {row[0] for row in conn.execute("SELECT key FROM dedupe")}
                one_shot = {row[0] for row in conn.execute("SELECT key FROM keys")}
            return keys == {"dd:live"} and "delivery:old" not in one_shot

        await wait_until(purged, timeout=5, what="expired rows to be deleted")
    finally:
        await bridge.stop()
