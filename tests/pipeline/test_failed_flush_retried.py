"""A group whose flush failed (the store could not commit) stays scheduled: the running flusher
tries it again later and its notification is queued then. A real SQLite file whose write lock
another connection holds, as when the disk is full."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog
from alertmanager_webhooks import am_alert, am_webhook
from conftest import write_config

from bridge.metrics import Metrics
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.ingest import Pipeline
from bridge.runtime import load_runtime
from bridge.store import SqliteStore

QUICK = """\
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: 1s
    to: [alice]
"""
START = datetime.fromisoformat("2026-03-10T12:00:00+00:00").timestamp()
RETRY_AFTER = 5.0  # the flusher tries a failed group again this long after


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for the running flusher, with a deadline."""
    deadline = time.monotonic() + 10
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_group_whose_flush_failed_is_flushed_later(tmp_path: Path) -> None:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", QUICK)))
    store = SqliteStore(str(tmp_path / "bench.db"), busy_timeout=0.05)
    await store.open()
    clock = [START]
    pipeline = Pipeline(store, Metrics(), clock=lambda: clock[0])
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=lambda: clock[0])
    pipeline.group_scheduled = flusher.schedule
    await flusher.start()
    try:
        received = datetime.fromtimestamp(clock[0], UTC)
        webhook = runtime.sources["alertmanager"].parse({}, am_webhook(am_alert("db-1")), received)
        await pipeline.ingest(webhook, runtime.routes, runtime.renderer, runtime.time_intervals)

        other = sqlite3.connect(store.path, isolation_level=None)
        with structlog.testing.capture_logs() as logs:
            other.execute("BEGIN EXCLUSIVE")  # the store reads but cannot commit
            try:
                clock[0] += 1  # the group is due: its flush fails

                async def failed() -> bool:
                    return any(line["event"] == "group.flush_failed" for line in logs)

                await until(failed, "the flush never ran")
            finally:
                other.execute("ROLLBACK")
                other.close()
        assert await store.list_notifications("pending") == []

        clock[0] += RETRY_AFTER

        async def queued() -> bool:
            return bool(await store.list_notifications("pending"))

        await until(queued, "the group whose flush failed was never flushed again")
        [notification] = await store.list_notifications("pending")
        assert notification.recipient == "alice"
    finally:
        await flusher.stop()
        await store.close()
