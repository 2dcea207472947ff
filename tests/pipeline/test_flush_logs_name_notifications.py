"""A flush's log line names the notifications it queued, so a message sent later leads back to
the group, the deferred hold or the flap hold it came from."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alertmanager_webhooks import am_alert, am_flapping, am_webhook
from conftest import write_config

from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.ingest import Pipeline
from bridge.runtime import Runtime, load_runtime
from bridge.store import SqliteStore

NIGHT = """\
time_intervals:
  - name: night
    time_intervals: [{times: [{start_time: "18:00", end_time: "24:00"}]}]
"""
GROUPED = """\
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    to: [oncall]
"""
DEFERRED = """\
routes:
  - name: disks
    source: alertmanager
    mute_time_intervals: [night]
    when_muted: defer
    to: [oncall]
"""
FLAPPING = """\
routes:
  - name: disks
    source: alertmanager
    to: [oncall]  # flap_window: 10m, the default
"""
EVENING = datetime.fromisoformat("2026-03-10T17:50:00+00:00").timestamp()


@dataclass
class Bench:
    """A pipeline and a group flusher on one SQLite store and one test clock."""

    runtime: Runtime
    metrics: Metrics
    pipeline: Pipeline
    flusher: GroupFlusher
    store: SqliteStore
    clock: list[float]

    async def post(self, minute: int, *alerts: dict[str, object]) -> None:
        self.clock[0] = EVENING + minute * 60
        runtime, received = self.runtime, datetime.fromtimestamp(self.clock[0], UTC)
        webhook = runtime.sources["alertmanager"].parse({}, am_webhook(*alerts), received)
        await self.pipeline.ingest(
            webhook, runtime.routes, runtime.renderer, runtime.time_intervals
        )

    async def flush_all(self, minute: int) -> list[Notification]:
        self.clock[0] = EVENING + minute * 60
        queued: list[Notification] = []
        for key, _ in await self.store.list_records("group", self.clock[0]):
            queued += await self.flusher.flush(key)
        return queued


async def open_bench(tmp_path: Path, routes: str, *, busy_timeout: float = 5.0) -> Bench:
    """A Bench on `routes` (with the `night` interval), its store open: the caller closes it."""
    config = write_config(tmp_path, "http://127.0.0.1:9", routes, extra=NIGHT)
    runtime = load_runtime(str(config))
    store = SqliteStore(str(tmp_path / "bench.db"), busy_timeout=busy_timeout)
    await store.open()
    clock, metrics = [EVENING], Metrics()
    pipeline = Pipeline(store, metrics, clock=lambda: clock[0])
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=lambda: clock[0])
    return Bench(runtime, metrics, pipeline, flusher, store, clock)


@pytest.fixture
async def bench(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Bench]:
    opened = await open_bench(tmp_path, request.param)
    yield opened
    await opened.store.close()


async def grouped(b: Bench) -> list[Notification]:
    await b.post(0, am_alert("db-1"), am_alert("db-2"))
    return await b.flush_all(1)


async def deferred(b: Bench) -> list[Notification]:
    await b.post(20, am_alert("db-1"))  # 18:10: muted, held until midnight
    return await b.flush_all(6 * 60 + 10)


async def flapped(b: Bench) -> list[Notification]:
    flapping = am_flapping("db-1", "firing", "resolved", "firing")
    for minute, alert in zip((0, 1, 2), flapping, strict=True):  # the third is held
        await b.post(minute, alert)
    return await b.flush_all(13)


Flush = Callable[[Bench], Awaitable[list[Notification]]]
CASES: list[tuple[str, Flush, str]] = [
    (GROUPED, grouped, "group.flushed"),
    (DEFERRED, deferred, "deferred.released"),
    (FLAPPING, flapped, "flapping.flushed"),
]


@pytest.mark.parametrize(
    ("bench", "flush", "event"), CASES, ids=[c[2] for c in CASES], indirect=["bench"]
)
async def test_a_flush_logs_the_ids_of_the_notifications_it_queued(
    bench: Bench, json_logs: pytest.CaptureFixture[str], flush: Flush, event: str
) -> None:
    queued = await flush(bench)
    assert sorted(n.recipient for n in queued) == ["alice", "bob"]
    err = json_logs.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    flushed = [line for line in lines if line["event"] == event]
    by_recipient = {line["recipient"]: line["notifications"] for line in flushed}
    assert by_recipient == {n.recipient: [n.id] for n in queued}
