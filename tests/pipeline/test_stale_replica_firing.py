"""An HA Alertmanager replica that missed a resolution re-announces the alert with its original
startsAt: through the real pipeline, flusher and SQLite store, that copy is not news, on
grouped and ungrouped routes alike; a re-fire (a later startsAt) still is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import write_config

from bridge.metrics import Metrics
from bridge.model import Event, Notification, SourceName, utcnow
from bridge.pipeline.dedupe import ENDED, DedupeHistory, decide
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.grouping import GroupState, group_from_record, group_to_record, stale_in
from bridge.pipeline.ingest import Pipeline
from bridge.pipeline.locks import KeyedLocks
from bridge.runtime import Runtime, load_runtime
from bridge.store import SqliteStore
from bridge.store.base import DedupeEntry

MINUTE = 60.0
START = 1_800_000_000.0
# When the alerts began, and a later start: the same alert firing again after it resolved.
BEGAN = "2026-11-25T10:00:00Z"
BEGAN_AGAIN = "2026-11-25T10:30:00Z"

GROUPED = """\
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    group_interval: 1m
    repeat_interval: 4h
    to: [alice]
"""
UNGROUPED = """\
routes:
  - name: disks
    source: alertmanager
    to: [alice]
"""
UNGROUPED_WITHOUT_RESOLVED = UNGROUPED.replace("    to:", "    send_resolved: false\n    to:")
ROUTES = {
    "grouped": (GROUPED, ""),
    "ungrouped-flap-30s": (UNGROUPED, "defaults: {flap_window: 30s}\n"),
    "ungrouped-flap-10m": (UNGROUPED, ""),
    "ungrouped-without-resolved": (UNGROUPED_WITHOUT_RESOLVED, ""),
}


@dataclass
class Bench:
    """A pipeline and a group flusher sharing one SQLite store and one clock."""

    runtime: Runtime
    store: SqliteStore
    pipeline: Pipeline
    flusher: GroupFlusher
    clock: list[float]
    sent: list[Notification]

    async def post(self, *alerts: dict[str, Any]) -> None:
        webhook = self.runtime.sources["alertmanager"].parse({}, am_webhook(*alerts), utcnow())
        runtime = self.runtime
        result = await self.pipeline.ingest(
            webhook, runtime.routes, runtime.renderer, runtime.time_intervals
        )
        self.sent.extend(result.notifications)

    async def run_for(self, seconds: float) -> None:
        """Step the clock 10 s at a time, flushing every group and hold that comes due."""
        end = self.clock[0] + seconds
        while self.clock[0] < end:
            self.clock[0] += 10.0
            for key, doc in await self.store.list_records("group", self.clock[0]):
                if doc["next_flush_at"] <= self.clock[0]:
                    self.sent.extend(await self.flusher.flush(key))

    def texts_since(self, count: int) -> list[str]:
        return [n.text for n in self.sent[count:]]

    def stale_count(self) -> float | None:
        return self.pipeline.metrics.registry.get_sample_value(
            "alertbridge_dedupe_suppressed_total", {"route": "disks", "reason": "stale_firing"}
        )


@pytest.fixture
async def bench(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bench]:
    routes, extra = ROUTES[request.param]
    config = write_config(tmp_path, "http://127.0.0.1:9", routes, extra=extra)
    runtime = load_runtime(str(config))
    store = SqliteStore(str(tmp_path / "bench.db"))
    await store.open()
    clock = [START]
    pipeline = Pipeline(store, Metrics(), KeyedLocks(), clock=lambda: clock[0])
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=lambda: clock[0])
    try:
        yield Bench(runtime, store, pipeline, flusher, clock, [])
    finally:
        await store.close()


def alert(instance: str, status: str = "firing", began: str = BEGAN) -> dict[str, Any]:
    return am_alert(instance, status, startsAt=began)


async def resolve_db1_on_one_replica_only(b: Bench) -> int:
    """db-1 and db-2 fire (both replicas post), then db-1 resolves on AM1 only; returns how
    many messages were sent by then."""
    for _replica in (1, 2):
        await b.post(alert("db-1"), alert("db-2"))
    await b.run_for(2 * MINUTE)
    await b.post(alert("db-1", "resolved"), alert("db-2"))  # AM1
    await b.run_for(2 * MINUTE)
    return len(b.sent)


@pytest.mark.parametrize("bench", list(ROUTES), indirect=True)
async def test_a_lagging_replica_does_not_announce_a_resolved_alert_again(
    bench: Bench, json_logs: pytest.CaptureFixture[str]
) -> None:
    b = bench
    told = await resolve_db1_on_one_replica_only(b)
    # AM2 never saw the resolution: it posts db-1 still firing (its original startsAt) with
    # a new alert, db-3; later it catches up and posts db-1 resolved.
    await b.post(alert("db-1"), alert("db-2"), alert("db-3", began=BEGAN_AGAIN))
    await b.run_for(2 * MINUTE)
    holds = await b.store.list_records("group", b.clock[0])
    assert not [key for key, _ in holds if "flapping" in key]  # no flap hold opened either
    await b.post(alert("db-1", "resolved"), alert("db-2"), alert("db-3", began=BEGAN_AGAIN))
    await b.run_for(15 * MINUTE)  # past the flap window: no "flapped" report comes either

    later = b.texts_since(told)
    assert later and all("db-3" in t for t in later), later  # db-3 is news
    assert not any("db-1" in t for t in later), later  # db-1 is over: not firing, not resolved
    assert b.stale_count() == 1
    lines = [json.loads(x) for x in json_logs.readouterr().err.splitlines() if x.startswith("{")]
    stale = [x for x in lines if "stale_firing" in f"{x['event']} {x.get('reason')}"]
    assert [(x["level"], x["fingerprint"]) for x in stale] == [("info", "fp-db-1")]


@pytest.mark.parametrize("bench", ["grouped", "ungrouped-flap-30s"], indirect=True)
async def test_an_alert_that_fires_again_later_is_news(bench: Bench) -> None:
    b = bench
    told = await resolve_db1_on_one_replica_only(b)
    await b.post(alert("db-1", began=BEGAN_AGAIN), alert("db-2"))
    await b.run_for(2 * MINUTE)

    later = b.texts_since(told)
    assert later and "db-1" in later[0] and "FIRING" in later[0].upper(), later
    assert b.stale_count() is None


@pytest.mark.parametrize("bench", ["ungrouped-flap-10m"], indirect=True)
async def test_a_stale_copy_does_not_undo_the_resolution_a_flap_hold_holds(bench: Bench) -> None:
    b = bench
    for posted in (
        alert("db-1"),
        alert("db-1", "resolved"),
        alert("db-1", began=BEGAN_AGAIN),  # fires again soon: held as flapping
        alert("db-1", "resolved", began=BEGAN_AGAIN),  # joins the hold
        alert("db-1", began=BEGAN_AGAIN),  # a lagging replica's copy
    ):
        await b.post(posted)
        b.clock[0] += MINUTE
    await b.run_for(15 * MINUTE)

    headlines = [n.text.splitlines()[0].split(" · ")[0] for n in b.sent]
    assert headlines == ["🔥 *FIRING*", "✅ *RESOLVED*", "✅ *RESOLVED*"]
    assert "flapped" in b.sent[-1].text and "now resolved" in b.sent[-1].text
    assert b.stale_count() == 1


def event(status: str, *, starts_at: float, source: SourceName = "alertmanager") -> Event:
    began = datetime.fromtimestamp(starts_at, UTC)
    outcome: Literal["failure"] | None = "failure" if source == "github" else None
    return Event(
        source=source,
        fingerprint="fp",
        status=status,
        labels={},
        starts_at=began,
        outcome=outcome,
    )


def test_a_group_record_written_before_ended_was_kept_loads_and_knows_no_resolution() -> None:
    group = GroupState("disks", "k", {}, {}, created_at=START, next_flush_at=START + 30)
    doc = group_to_record(group)
    del doc["ended"]
    loaded = group_from_record(doc)
    assert loaded.ended == {}
    assert not stale_in(loaded, event("firing", starts_at=0.0))


@pytest.mark.parametrize(
    ("source", "ended", "reason"),
    [
        ("alertmanager", None, "flapping"),
        ("github", DedupeEntry(ENDED, START), "flapping"),
        ("alertmanager", DedupeEntry(ENDED, START), "stale_firing"),
        ("alertmanager", DedupeEntry(ENDED, START - 1), "flapping"),
    ],
    ids=["no-ended-entry-as-before", "github-as-before", "same-start-is-stale", "later-start"],
)
def test_what_a_firing_after_a_resolution_is(
    source: SourceName, ended: DedupeEntry | None, reason: str
) -> None:
    """Fired, resolved, firing again within the flap window: held as flapping, as before,
    unless it started no later than the alert the resolution ended."""
    history = DedupeHistory(
        DedupeEntry("firing", 0.0, "n-fire"), DedupeEntry("resolved", 5.0, "n-res"), ended=ended
    )
    firing = event("firing", starts_at=START, source=source)
    decision = decide(firing, history, now=10.0, window=3600.0, send_resolved=True, flap_window=600)
    assert (decision.send, decision.reason) == (False, reason)
