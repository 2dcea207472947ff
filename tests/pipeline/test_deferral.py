"""`when_muted: defer` on routes without group_by: muted events are held until the mute ends,
then released through dedupe; an alert that fired and resolved while held is not sent."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from alertmanager_webhooks import am_alert, am_flapping, am_webhook
from conftest import wait_until, write_config

from bridge.commands.explain import explain
from bridge.metrics import Metrics
from bridge.model import Event, Status
from bridge.pipeline.dedupe import DedupeHistory, dedupe_key
from bridge.pipeline.deferral import deferred_key, hold_deferred, release_decision
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.grouping import GROUP_KIND, GroupAlert, flap_key, record_key
from bridge.pipeline.ingest import IngestResult, Pipeline
from bridge.pipeline.locks import KeyedLocks
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routing.router import Route
from bridge.runtime import Runtime, load_runtime
from bridge.store import MemoryStore
from bridge.store.base import DedupeEntry

ROUTE = """\
routes:
  - name: night
    source: alertmanager
    mute_time_intervals: [{interval}]
    when_muted: defer
    dedupe_window: 1h
    to: [oncall]
"""
INTERVALS = """\
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "00:00", end_time: "06:00"}], location: Europe/Berlin}]
  - name: long-ago
    time_intervals: [{years: ["2001"]}]
  - name: three-minutes
    time_intervals: [{times: [{start_time: "02:05", end_time: "02:08"}], location: Europe/Berlin}]
"""
HOLD = record_key("night", deferred_key("night"))


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# Tuesday 2026-03-10; Berlin is UTC+1, so the night ends at 05:00 UTC.
NIGHT, NIGHT_ENDS = at("2026-03-10T01:00:00Z"), at("2026-03-10T05:00:00Z")


# --- the release decision, pure ---------------------------------------------------------------

WINDOW = 3600.0
DECIDING_ROUTE = Route("night", None, (), (), None, None, WINDOW, True, False, flap_window=60.0)


def held(status: Status, transitions: int) -> GroupAlert:
    return GroupAlert(
        Event("alertmanager", "fp", status, {}), changed_at=0.0, transitions=transitions
    )


def told(firing_at: float | None = None, resolved_at: float | None = None) -> DedupeHistory:
    fired = DedupeEntry("firing", firing_at, "n-f") if firing_at is not None else None
    resolved = DedupeEntry("resolved", resolved_at, "n-r") if resolved_at is not None else None
    return DedupeHistory(fired, resolved)


NOW = 100_000.0
CASES = [
    (held("firing", 0), told(), True, None, "firing-new"),
    (held("firing", 0), told(firing_at=NOW - 60), False, "duplicate", "firing-already-told"),
    (held("firing", 0), told(firing_at=NOW - 2 * WINDOW), True, None, "firing-reminder"),
    (held("resolved", 1), told(), False, "resolved_while_muted", "fired-and-resolved-unheard"),
    (
        held("resolved", 1),
        told(firing_at=NOW - 2 * WINDOW, resolved_at=NOW - WINDOW),
        False,
        "resolved_while_muted",
        "fired-and-resolved-after-last-resolution",
    ),
    (held("resolved", 1), told(firing_at=NOW - 600), True, None, "resolution-of-told-firing"),
    (held("resolved", 2), told(firing_at=NOW - 600), True, None, "flapped-and-resolved"),
    (held("resolved", 0), told(firing_at=NOW - 600), True, None, "only-resolved-held"),
]


@pytest.mark.parametrize(
    ("alert_held", "history", "send", "reason"),
    [c[:4] for c in CASES],
    ids=[c[4] for c in CASES],
)
def test_release_decision(
    alert_held: GroupAlert, history: DedupeHistory, send: bool, reason: str | None
) -> None:
    decision = release_decision(alert_held, history, DECIDING_ROUTE, NOW)
    assert (decision.send, decision.reason) == (send, reason)


# --- ingest and release with an injected clock ------------------------------------------------


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Bench:
    runtime: Runtime
    store: MemoryStore
    metrics: Metrics
    clock: Clock
    pipeline: Pipeline
    flusher: GroupFlusher

    async def post(self, *alerts: dict[str, object]) -> IngestResult:
        received = datetime.fromtimestamp(self.clock.now).astimezone()
        webhook = self.runtime.sources["alertmanager"].parse({}, am_webhook(*alerts), received)
        return await self.pipeline.ingest(
            webhook, self.runtime.routes, self.runtime.renderer, self.runtime.time_intervals
        )

    def suppressed(self, reason: str) -> float | None:
        labels = {"route": "night", "reason": reason}
        return self.metrics.registry.get_sample_value("alertbridge_suppressed_total", labels)


@pytest.fixture
async def bench(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Bench]:
    interval = getattr(request, "param", "nights")
    config = write_config(
        tmp_path, "http://127.0.0.1:9", ROUTE.format(interval=interval), extra=INTERVALS
    )
    runtime = load_runtime(str(config))
    store, metrics, clock, locks = MemoryStore(), Metrics(), Clock(NIGHT), KeyedLocks()
    pipeline = Pipeline(store, metrics, locks, clock=clock)
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=clock)
    pipeline.group_scheduled = flusher.schedule
    yield Bench(runtime, store, metrics, clock, pipeline, flusher)
    await flusher.stop()


async def test_muted_events_are_held_until_the_mute_ends(bench: Bench) -> None:
    result = await bench.post(am_alert("db-1"), am_alert("db-2"))
    assert result.notifications == []
    assert {(o.recipient, o.group, o.flush_at) for o in result.outcomes} == {
        ("alice", "night|deferred", NIGHT_ENDS),
        ("bob", "night|deferred", NIGHT_ENDS),
    }
    assert bench.suppressed("deferred") == 2
    bench.clock.now = NIGHT_ENDS - 1
    assert await bench.flusher.flush(HOLD) == []

    bench.clock.now = NIGHT_ENDS
    sent = await bench.flusher.flush(HOLD)
    assert sorted(n.recipient for n in sent) == ["alice", "bob"]
    assert all("db-1" in n.text and "db-2" in n.text for n in sent)
    assert await bench.store.get_record(GROUP_KIND, HOLD, NIGHT_ENDS) is None

    bench.clock.now = NIGHT_ENDS + 60
    again = await bench.post(am_alert("db-1"))  # the release counts as sent: a repeat is deduped
    assert again.notifications == []
    assert [o.suppressed[0][1].reason for o in again.outcomes] == ["duplicate", "duplicate"]


async def test_deferred_alert_that_resolved_meanwhile_is_dropped(bench: Bench) -> None:
    await bench.post(am_alert("db-1"), am_alert("db-2"))
    bench.clock.now = NIGHT + 600
    await bench.post(am_alert("db-2", "resolved"))
    bench.clock.now = NIGHT_ENDS
    sent = await bench.flusher.flush(HOLD)
    assert len(sent) == 2
    assert all("db-1" in n.text and "db-2" not in n.text for n in sent)
    assert bench.suppressed("resolved_while_muted") == 2


async def test_resolution_of_a_firing_sent_before_the_mute_is_sent_after_it(bench: Bench) -> None:
    bench.clock.now = NIGHT - 3 * 3600  # 23:00 in Berlin: not muted yet
    before = await bench.post(am_alert("db-1"))
    assert len(before.notifications) == 2
    bench.clock.now = NIGHT
    await bench.post(am_alert("db-1", "resolved"))
    bench.clock.now = NIGHT_ENDS
    sent = await bench.flusher.flush(HOLD)
    assert len(sent) == 2 and all("RESOLVED" in n.text for n in sent)


async def test_events_after_the_mute_join_a_hold_not_yet_released(bench: Bench) -> None:
    await bench.post(am_alert("db-1"))
    bench.clock.now = NIGHT_ENDS + 1  # unmuted, but the flusher has not released the hold yet
    late = await bench.post(am_alert("db-1", "resolved"))
    assert late.notifications == [] and {o.group for o in late.outcomes} == {"night|deferred"}
    assert await bench.flusher.flush(HOLD) == []  # fired and resolved while held: nothing
    assert bench.suppressed("resolved_while_muted") == 2
    after = await bench.post(am_alert("db-1"))  # the hold is gone: straight through dedupe
    assert len(after.notifications) == 2


# --- held and released by the running flusher, on the real clock ------------------------------


async def hold_due_at(bench: Bench, release_at: float) -> None:
    route = next(r for r in bench.runtime.routes if r.name == "night")
    webhook = bench.runtime.sources["alertmanager"].parse(
        {}, am_webhook(am_alert("db-1")), datetime.now().astimezone()
    )
    staged = StagedWrites()
    await hold_deferred(
        bench.store,
        staged,
        bench.metrics,
        route,
        webhook.events,
        webhook,
        release_at=release_at,
        now=time.time(),
    )
    await staged.commit(bench.store)


@pytest.mark.parametrize("bench", ["long-ago"], indirect=True)
@pytest.mark.parametrize("delay", [-60.0, 0.2], ids=["due-in-the-past", "due-soon"])
async def test_flusher_releases_a_stored_hold_when_it_is_due(bench: Bench, delay: float) -> None:
    bench.clock.now = time.time()
    await hold_due_at(bench, bench.clock.now + delay)
    bench.flusher._clock = time.time  # the running flusher on the real clock
    await bench.flusher.start()

    async def released() -> bool:
        return (await bench.store.outbox_counts())["pending"] == 2

    await wait_until(released, timeout=5, what="the deferred hold to be released")
    assert await bench.store.get_record(GROUP_KIND, HOLD, time.time()) is None


async def test_explain_says_deferred_while_muted_and_while_the_hold_waits(bench: Bench) -> None:
    body = am_webhook(am_alert("db-1"))
    muted = await explain(bench.runtime, bench.store, "alertmanager", body, now=NIGHT)
    assert {v["verdict"] for v in muted["routes"][0]["verdicts"]} == {"deferred"}
    await bench.post(am_alert("db-1"))
    unmuted = await explain(bench.runtime, bench.store, "alertmanager", body, now=NIGHT_ENDS + 1)
    verdicts = unmuted["routes"][0]["verdicts"]
    assert {(v["verdict"], v["reason"]) for v in verdicts} == {
        ("deferred", "joins the deferred hold waiting for its release")
    }
    bench.clock.now = NIGHT_ENDS + 1
    await bench.flusher.flush(HOLD)
    released = await explain(bench.runtime, bench.store, "alertmanager", body, now=NIGHT_ENDS + 2)
    assert {v["verdict"] for v in released["routes"][0]["verdicts"]} == {"deduped"}


async def test_a_flap_hold_the_mute_postponed_does_not_undo_a_newer_release(bench: Bench) -> None:
    mute_starts = NIGHT - 2 * 3600  # midnight in Berlin
    *flapping, resolved = am_flapping("db-1", "firing", "resolved", "firing", "resolved")
    for minutes_before, alert in zip((8, 7, 6), flapping, strict=True):
        bench.clock.now = mute_starts - minutes_before * 60
        await bench.post(alert)
    flap_hold = record_key("night", flap_key("night", "fp-db-1"))
    bench.clock.now = mute_starts + 240  # the hold comes due in the mute: postponed to its end
    assert await bench.flusher.flush(flap_hold) == []
    bench.clock.now = mute_starts + 1800
    await bench.post(resolved)  # deferred

    bench.clock.now = NIGHT_ENDS
    # The postponed hold still holds the alert for its recipients: the release joins it...
    assert await bench.flusher.flush(HOLD) == []
    # ...and the hold reports the latest state, not its "firing, flapped" from before the mute.
    reported = await bench.flusher.flush(flap_hold)
    assert [n.text.splitlines()[0] for n in reported] == ["✅ *RESOLVED* · CRITICAL"] * 2
    assert await bench.store.list_records(GROUP_KIND, NIGHT_ENDS) == []


@pytest.mark.parametrize("bench", ["long-ago"], indirect=True)
async def test_a_flap_hold_does_not_report_a_state_older_than_one_told_since(
    bench: Bench,
) -> None:
    flapping = am_flapping("db-1", "firing", "resolved", "firing")
    for minute, alert in zip((0, 1, 2), flapping, strict=True):  # held until :12
        bench.clock.now = NIGHT + minute * 60
        await bench.post(alert)
    flap_hold = record_key("night", flap_key("night", "fp-db-1"))
    told = DedupeEntry("resolved", NIGHT + 5 * 60, "told-another-way")
    for name in ("alice", "bob"):  # say, by a release that found the hold's entry expired
        key = dedupe_key("night", name, "fp-db-1", "resolved")
        await bench.store.put_dedupe({key: told}, ttl=3600)

    bench.clock.now = NIGHT + 13 * 60
    assert await bench.flusher.flush(flap_hold) == []
    assert (
        bench.metrics.registry.get_sample_value(
            "alertbridge_dedupe_suppressed_total", {"route": "night", "reason": "superseded"}
        )
        == 2
    )


@pytest.mark.parametrize("bench", ["three-minutes"], indirect=True)
async def test_a_resolution_released_while_the_alert_is_held_for_flapping_joins_the_hold(
    bench: Bench,
) -> None:
    """01:00 firing, 01:01 resolved, 01:02 firing (held until 01:12 as flapping); muted
    01:05-01:08 (UTC), the alert resolves at 01:06: the last word must be that it resolved."""
    sent: list[str] = []
    flapping = am_flapping("db-1", "firing", "resolved", "firing", "resolved")
    for minute, alert in zip((0, 1, 2, 6), flapping, strict=True):
        bench.clock.now = NIGHT + minute * 60
        result = await bench.post(alert)
        sent += [n.text.splitlines()[0] for n in result.notifications]
    assert sent == ["🔥 *FIRING* · CRITICAL"] * 2 + ["✅ *RESOLVED* · CRITICAL"] * 2

    bench.clock.now = NIGHT + 8 * 60
    assert await bench.flusher.flush(HOLD) == []  # the release: into the flap hold, not lost
    bench.clock.now = NIGHT + 12 * 60
    flapped = await bench.flusher.flush(record_key("night", flap_key("night", "fp-db-1")))

    assert [n.text.splitlines()[0] for n in flapped] == ["✅ *RESOLVED* · CRITICAL"] * 2
    assert await bench.store.list_records(GROUP_KIND, bench.clock.now) == []
