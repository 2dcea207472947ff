"""`alertbridge_suppressed_total` counts events, once, as they arrive: not every flush a mute
skips (a weekend mute would count a group hundreds of times), nor a hold checked again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alertmanager_webhooks import am_alert, am_flapping, am_webhook
from conftest import write_config

from bridge.logs import LOGGED_FINGERPRINTS
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.pipeline.deferral import deferred_key, hold_deferred
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.grouping import record_key
from bridge.pipeline.ingest import Pipeline
from bridge.pipeline.staged_writes import StagedWrites
from bridge.runtime import Runtime, load_runtime
from bridge.store import SqliteStore

MINUTE = 60.0
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
    group_interval: 5m
    mute_time_intervals: [night]
    when_muted: {when_muted}
    to: [alice]
"""
UNGROUPED = """\
routes:
  - name: disks
    source: alertmanager
    mute_time_intervals: [night]
    when_muted: {when_muted}
    to: [alice]
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@dataclass
class Bench:
    """A pipeline and a group flusher on one SQLite store, stepped a minute at a time."""

    runtime: Runtime
    metrics: Metrics
    store: SqliteStore
    pipeline: Pipeline
    flusher: GroupFlusher
    clock: list[float]

    async def post(self, when: str, *alerts: dict[str, object]) -> None:
        self.clock[0] = at(when)
        received = datetime.fromtimestamp(self.clock[0], UTC)
        webhook = self.runtime.sources["alertmanager"].parse({}, am_webhook(*alerts), received)
        runtime = self.runtime
        await self.pipeline.ingest(
            webhook, runtime.routes, runtime.renderer, runtime.time_intervals
        )

    async def run_until(self, when: str) -> list[Notification]:
        """Flush every group and hold as it comes due, a minute at a time."""
        sent: list[Notification] = []
        while self.clock[0] < at(when):
            self.clock[0] += MINUTE
            for key, doc in await self.store.list_records("group", self.clock[0]):
                if doc["next_flush_at"] <= self.clock[0]:
                    sent += await self.flusher.flush(key)
        return sent

    def suppressed(self, reason: str) -> float | None:
        labels = {"route": "disks", "reason": reason}
        return self.metrics.registry.get_sample_value("alertbridge_suppressed_total", labels)


@pytest.fixture
async def bench(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Bench]:
    config = write_config(tmp_path, "http://127.0.0.1:9", request.param, extra=NIGHT)
    runtime = load_runtime(str(config))
    store = SqliteStore(str(tmp_path / "bench.db"))
    await store.open()
    metrics, clock = Metrics(), [at("2026-03-10T12:00:00+00:00")]
    pipeline = Pipeline(store, metrics, clock=lambda: clock[0])
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=lambda: clock[0])
    yield Bench(runtime, metrics, store, pipeline, flusher, clock)
    await store.close()


@pytest.mark.parametrize(
    ("bench", "reason"),
    [
        (GROUPED.format(when_muted="drop"), "muted"),
        (GROUPED.format(when_muted="defer"), "deferred"),
    ],
    ids=["drop", "defer"],
    indirect=["bench"],
)
async def test_events_that_arrive_in_a_muted_group_count_once_each(
    bench: Bench, reason: str
) -> None:
    await bench.post("2026-03-10T17:00:00+00:00", am_alert("db-0"))  # before the mute: sent
    assert len(await bench.run_until("2026-03-10T17:10:00+00:00")) == 1
    await bench.post("2026-03-10T20:00:00+00:00", am_alert("db-1"), am_alert("db-2"))
    await bench.post("2026-03-10T21:00:00+00:00", am_alert("db-1"))  # Alertmanager's repeat
    after = await bench.run_until("2026-03-11T01:00:00+00:00")  # the mute ends at midnight

    assert len(after) == 1 and "db-1" in after[0].text and "db-2" in after[0].text
    assert bench.suppressed(reason) == 3  # the events that arrived muted; no flush counted
    assert bench.suppressed("grouped") == 4


@pytest.mark.parametrize(
    "bench", [UNGROUPED.format(when_muted="drop")], ids=["drop"], indirect=True
)
async def test_a_flap_hold_the_mute_postpones_is_not_counted_again(bench: Bench) -> None:
    flapping = am_flapping("db-1", "firing", "resolved", "firing")
    for minute, alert in zip((50, 51, 52), flapping, strict=True):  # held to 18:02
        await bench.post(f"2026-03-10T17:{minute}:00+00:00", alert)
    sent = await bench.run_until("2026-03-11T01:00:00+00:00")  # checked all through the mute

    assert len(sent) == 1 and "flapped" in sent[0].text  # reported after the mute
    assert bench.suppressed("flapping") == 1
    assert bench.suppressed("muted") is None  # nothing arrived muted


@pytest.mark.parametrize(
    "bench", [UNGROUPED.format(when_muted="defer")], ids=["defer"], indirect=True
)
async def test_a_deferred_hold_due_inside_the_mute_is_not_counted_again(bench: Bench) -> None:
    bench.clock[0] = at("2026-03-10T19:00:00+00:00")
    route = bench.runtime.routes[0]
    received = datetime.fromtimestamp(bench.clock[0], UTC)
    webhook = bench.runtime.sources["alertmanager"].parse(
        {}, am_webhook(am_alert("db-1")), received
    )
    staged = StagedWrites()
    await hold_deferred(  # its release set inside the mute (as before a config change, say)
        bench.store,
        staged,
        bench.metrics,
        route,
        webhook.events,
        webhook,
        release_at=bench.clock[0] + MINUTE,
        now=bench.clock[0],
    )
    await staged.commit(bench.store)
    hold = record_key("disks", deferred_key("disks"))
    bench.clock[0] += MINUTE
    assert await bench.flusher.flush(hold) == []  # still muted: postponed to midnight
    assert len(await bench.run_until("2026-03-11T00:10:00+00:00")) == 1

    assert bench.suppressed("deferred") == 1  # the one event, when it was held


@pytest.mark.parametrize("bench", [GROUPED.format(when_muted="drop")], ids=["drop"], indirect=True)
async def test_a_muted_group_repost_is_one_log_line(
    bench: Bench, json_logs: pytest.CaptureFixture[str]
) -> None:
    """Alertmanager re-posts whole groups: one line per route and webhook, not one per alert."""
    json_logs.readouterr()
    alerts = [am_alert(f"db-{i}") for i in range(12)]
    await bench.post("2026-03-10T20:00:00+00:00", *alerts)

    lines = [json.loads(x) for x in json_logs.readouterr().err.splitlines() if x.startswith("{")]
    [muted] = [line for line in lines if "muted_in_group" in line["event"]]
    assert (muted["route"], muted["events"], muted["reason"]) == ("disks", 12, "muted")
    assert muted["fingerprints"] == [f"fp-db-{i}" for i in range(LOGGED_FINGERPRINTS)]
