"""The running bridge keeps its state bounded: expired entries leave the store on their own."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import due_notification, wait_until, write_config

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


async def test_notifications_older_than_the_retention_are_purged_while_running(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", extra="")
    text = config.read_text().replace("store: {", "store: {retention: 1h, ", 1)
    config.write_text(text)
    bridge = Bridge(load_runtime(str(config)), sender=DryRunSender(), purge_interval=0.02)
    await bridge.start()
    try:
        now = time.time()
        # Not due, so the worker leaves them alone; merged into a digest, they are finished.
        old, recent, digest = (due_notification(text=t) for t in ("old", "recent", "digest"))
        old.created_at = now - 2 * 3600
        for n in (old, recent):
            n.next_attempt_at = now + 3600
        await bridge.store.enqueue([old, recent])
        assert await bridge.store.merge_into([old.id, recent.id], digest) == 2

        async def old_one_purged() -> bool:
            return await bridge.store.get_notification(old.id) is None

        await wait_until(old_one_purged, timeout=5, what="the notification past retention")
        assert await bridge.store.get_notification(recent.id) is not None
    finally:
        await bridge.stop()
