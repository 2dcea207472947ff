"""Group and hold flushes through the real pipeline, flusher and store, on a test clock:
mutes on grouped routes, the order of split parts, flap holds without send_resolved, explain."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alertmanager_webhooks import am_alert, am_flapping, am_webhook
from conftest import write_config

from bridge.commands.explain import explain
from bridge.metrics import Metrics
from bridge.model import Notification, utcnow
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.group_notifications import flush_id
from bridge.pipeline.ingest import IngestResult, Pipeline
from bridge.pipeline.locks import KeyedLocks
from bridge.pipeline.silences import parse_silence, save_silence
from bridge.runtime import Runtime, load_runtime
from bridge.store import SqliteStore

MINUTE = 60.0


@dataclass
class Bench:
    """A pipeline and a group flusher sharing one store and one clock."""

    runtime: Runtime
    store: SqliteStore
    pipeline: Pipeline
    flusher: GroupFlusher
    clock: list[float]
    sent: list[Notification]

    async def post(self, *alerts: dict[str, object]) -> IngestResult:
        """Ingest one webhook; what routes without group_by send at once joins `sent`."""
        body = am_webhook(*alerts)
        webhook = self.runtime.sources["alertmanager"].parse({}, body, utcnow())
        runtime = self.runtime
        result = await self.pipeline.ingest(
            webhook, runtime.routes, runtime.renderer, runtime.time_intervals
        )
        self.sent.extend(result.notifications)
        return result

    async def run_until(self, end: float) -> None:
        """Step the clock a minute at a time, flushing every group that comes due."""
        while self.clock[0] < end:
            self.clock[0] += MINUTE
            for key, doc in await self.store.list_records("group", self.clock[0]):
                if doc["next_flush_at"] <= self.clock[0]:
                    self.sent.extend(await self.flusher.flush(key))

    def headlines(self) -> list[str]:
        return [n.text.splitlines()[0] for n in self.sent]


MakeBench = Callable[[str, float], Awaitable[Bench]]


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[MakeBench]:
    stores: list[SqliteStore] = []

    async def make(routes: str, start: float) -> Bench:
        runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", routes)))
        store = SqliteStore(str(tmp_path / "bench.db"))
        await store.open()
        stores.append(store)
        clock = [start]
        locks = KeyedLocks()
        pipeline = Pipeline(store, Metrics(), locks, clock=lambda: clock[0])
        flusher = GroupFlusher(pipeline, lambda: runtime, clock=lambda: clock[0])
        return Bench(runtime, store, pipeline, flusher, clock, [])

    yield make
    for store in stores:
        await store.close()


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


MUTED_AT_NIGHT = """\
time_intervals:
  - name: night
    time_intervals:
      - times: [{{start_time: '18:00', end_time: '24:00'}}]
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
    send_resolved: {send_resolved}
    mute_time_intervals: [night]
    when_muted: drop
    to: [alice]
"""


@pytest.mark.parametrize("send_resolved", [True, False])
async def test_a_resolution_during_a_drop_mute_ends_the_group_after_the_mute(
    bench: MakeBench, send_resolved: bool
) -> None:
    routes = MUTED_AT_NIGHT.format(send_resolved=str(send_resolved).lower())
    b = await bench(routes, at("2026-03-10T17:00:00+00:00"))
    await b.post(am_alert("db-1"))
    await b.run_until(at("2026-03-10T17:30:00+00:00"))
    assert [h.split(" · ")[0] for h in b.headlines()] == ["🔥 *FIRING*"]

    await b.run_until(at("2026-03-10T20:00:00+00:00"))  # muted from 18:00
    await b.post(am_alert("db-1", "resolved"))
    await b.run_until(at("2026-03-11T12:00:00+00:00"))  # the mute ends at midnight

    after = [h.split(" · ")[0] for h in b.headlines()[1:]]
    assert after == (["✅ *RESOLVED*"] if send_resolved else [])
    assert await b.store.list_records("group", b.clock[0]) == []  # no more FIRING reminders


SPLIT = """\
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    overflow: split
    max_parts: 4
    to: [alice]
"""


async def test_the_parts_of_a_split_group_message_are_claimed_in_order(bench: MakeBench) -> None:
    b = await bench(SPLIT + "templates: {max_length: 400}\n", 1_000_000.0)
    await b.post(*(am_alert(f"db-{i}") for i in range(12)))
    await b.run_until(1_000_000.0 + 2 * MINUTE)
    assert len(b.sent) >= 3, b.headlines()

    claimed = await b.store.claim_due(b.clock[0], limit=10)
    total = len(b.sent)
    assert [n.text.splitlines()[0] for n in claimed] == [
        f"({i}/{total})" for i in range(1, total + 1)
    ]
    # A replayed flush makes the same ids, so it is never enqueued twice.
    assert [n.id for n in b.sent] == [
        flush_id("disks\x1fdisks{alertname='Disk'}", 1_000_000.0, 0, "alice", part)
        for part in range(total)
    ]


FLAPPING_WITHOUT_RESOLVED = """\
routes:
  - name: disks
    source: alertmanager
    send_resolved: false
    to: [alice]
"""


async def test_a_flap_hold_that_ends_resolved_sends_nothing_without_send_resolved(
    bench: MakeBench,
) -> None:
    start = 1_000_000.0
    b = await bench(FLAPPING_WITHOUT_RESOLVED, start)
    *flapping, refired = am_flapping("db-1", "firing", "resolved", "firing", "resolved", "firing")
    for alert in flapping:
        await b.post(alert)
        b.clock[0] += MINUTE
    await b.run_until(start + 30 * MINUTE)  # the hold flushes
    outbox = await b.store.list_notifications(limit=50)
    assert [n.text.splitlines()[0].split(" · ")[0] for n in outbox] == ["🔥 *FIRING*"]

    # The resolution was remembered: the next firing is news again.
    await b.post(refired)
    assert len(await b.store.list_notifications(limit=50)) == 2


EXPLAINED_GROUPS = """\
routes:
  - name: wanted
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    continue: true
    to: [alice]
  - name: unwanted
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    send_resolved: false
    to: [alice]
"""


async def test_explain_says_when_a_grouped_resolution_will_not_be_sent(bench: MakeBench) -> None:
    start = 1_000_000.0
    b = await bench(EXPLAINED_GROUPS, start)
    resolved = am_webhook(am_alert("db-1", "resolved"))

    async def verdicts() -> dict[str, tuple[str, str | None]]:
        report = await explain(b.runtime, b.store, "alertmanager", resolved, now=b.clock[0])
        return {
            r["route"]: (r["verdicts"][0]["verdict"], r["verdicts"][0].get("reason"))
            for r in report["routes"]
        }

    # Nobody was told db-1 fires: nothing to resolve on either route.
    assert await verdicts() == {
        "wanted": ("not_sent", "recipient_not_told_firing"),
        "unwanted": ("not_sent", "resolved_not_wanted"),
    }
    await b.post(am_alert("db-1"))
    await b.run_until(start + 2 * MINUTE)
    assert len(b.sent) == 2
    assert await verdicts() == {
        "wanted": ("grouped", None),
        "unwanted": ("not_sent", "resolved_not_wanted"),
    }


DROPPED_AT_NIGHT = """\
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: '18:00', end_time: '24:00'}]
routes:
  - name: disks
    source: alertmanager
    mute_time_intervals: [night]
    when_muted: drop
    to: [alice]
"""


@pytest.mark.parametrize(
    ("in_the_mute", "after_the_mute"),
    [(None, "🔥 *FIRING*"), ("resolved", "✅ *RESOLVED*")],
    ids=["still-firing", "resolved-in-the-mute"],
)
async def test_a_flap_hold_due_in_a_dropping_mute_reports_the_latest_state_after_it(
    bench: MakeBench, in_the_mute: str | None, after_the_mute: str
) -> None:
    b = await bench(DROPPED_AT_NIGHT, at("2026-03-10T17:50:00+00:00"))
    for alert in am_flapping("db-1", "firing", "resolved", "firing"):
        await b.post(alert)
        b.clock[0] += 60
    assert [h.split(" · ")[0] for h in b.headlines()] == ["🔥 *FIRING*", "✅ *RESOLVED*"]

    await b.run_until(at("2026-03-10T20:00:00+00:00"))  # the hold came due at 18:02, muted
    if in_the_mute:
        await b.post(am_alert("db-1", in_the_mute))  # dropped, but the hold takes it in
    assert len(b.sent) == 2
    await b.run_until(at("2026-03-11T02:00:00+00:00"))

    # Neither lost (the firing the hold pushed into the mute) nor stale (the firing it held
    # while the alert resolved in the mute): the state at the end of the mute, once.
    assert [h.split(" · ")[0] for h in b.headlines()[2:]] == [after_the_mute]
    assert await b.store.list_records("group", b.clock[0]) == []


SILENCEABLE = """\
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
    to: [alice]
"""


SILENCEABLE_UNGROUPED = SILENCEABLE.replace("    group_by: [alertname]\n", "")


async def silence_db1(b: Bench, hours: float) -> None:
    """A bridge silence of instance db-1 from now, for `hours`."""
    start = datetime.fromtimestamp(b.clock[0], UTC)
    body = {
        "matchers": [{"name": "instance", "value": "db-1", "isRegex": False}],
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=hours)).isoformat(),
        "createdBy": "alice",
        "comment": "disk swap",
    }
    await save_silence(b.store, parse_silence(body, now=start, silence_id="s1"))


async def test_a_silenced_alert_in_a_group_is_not_repeated_and_its_resolution_ends_it(
    bench: MakeBench,
) -> None:
    b = await bench(SILENCEABLE, at("2026-03-10T12:00:00+00:00"))
    await b.post(am_alert("db-1"))
    await b.run_until(at("2026-03-10T12:05:00+00:00"))
    await silence_db1(b, hours=20)
    body = am_webhook(am_alert("db-1"))
    report = await explain(b.runtime, b.store, "alertmanager", body, now=b.clock[0])
    [verdict] = report["routes"][0]["verdicts"]
    assert (verdict["verdict"], verdict["group"]) == ("silenced", "disks{alertname='Disk'}")
    await b.post(am_alert("db-1"))  # Alertmanager's repeats while silenced
    await b.run_until(at("2026-03-10T22:00:00+00:00"))  # past two repeat_intervals
    await b.post(am_alert("db-1", "resolved"))
    await b.run_until(at("2026-03-11T06:00:00+00:00"))

    assert [h.split(" · ")[0] for h in b.headlines()] == ["🔥 *FIRING*"]  # no 4-hourly FIRING
    assert await b.store.list_records("group", b.clock[0]) == []  # the resolution ended it
    suppressed = b.pipeline.metrics.registry.get_sample_value(
        "alertbridge_suppressed_total", {"route": "disks", "reason": "silenced"}
    )
    assert suppressed == 2  # the two events that arrived silenced, not once per flush


@pytest.mark.parametrize("partner", [False, True], ids=["alone-in-its-group", "with-another"])
async def test_what_was_told_of_a_silenced_alert_is_kept_for_its_resolution(
    bench: MakeBench, partner: bool
) -> None:
    """A flush during the silence must not record "told nothing": after it, the resolution is
    sent (it pairs with the FIRING alice got), and the alert is not announced again."""
    b = await bench(SILENCEABLE, at("2026-03-10T12:00:00+00:00"))
    await b.post(am_alert("db-1"), *([am_alert("db-2")] if partner else []))
    await b.run_until(at("2026-03-10T12:05:00+00:00"))
    await silence_db1(b, hours=1)
    await b.run_until(at("2026-03-10T13:05:00+00:00"))  # flushes all through the silence
    await b.post(am_alert("db-1", "resolved"))
    await b.run_until(at("2026-03-10T13:30:00+00:00"))

    headlines = [n.text.splitlines()[0].split(" · ")[0] for n in b.sent]
    assert headlines[-1] in ("✅ *RESOLVED*", "🔥 *1 firing* · ✅ *1 resolved*")
    assert len(b.sent) == 2 and "db-1" in b.sent[-1].text
    suppressed = b.pipeline.metrics.registry.get_sample_value(
        "alertbridge_suppressed_total", {"route": "disks", "reason": "silenced"}
    )
    assert suppressed is None  # nothing arrived while silenced: nothing counted


async def test_a_flap_hold_whose_alert_is_silenced_meanwhile_sends_nothing(
    bench: MakeBench,
) -> None:
    b = await bench(SILENCEABLE_UNGROUPED, at("2026-03-10T12:00:00+00:00"))
    # The third is held as flapping.
    for alert in am_flapping("db-1", "firing", "resolved", "firing"):
        await b.post(alert)
        b.clock[0] += 60
    assert [h.split(" · ")[0] for h in b.headlines()] == ["🔥 *FIRING*", "✅ *RESOLVED*"]
    await silence_db1(b, hours=2)
    await b.run_until(at("2026-03-10T13:00:00+00:00"))

    assert len(b.sent) == 2  # the hold's "firing, flapped" falls in the silence
    assert await b.store.list_records("group", b.clock[0]) == []
    silenced = b.pipeline.metrics.registry.get_sample_value(
        "alertbridge_suppressed_total", {"route": "disks", "reason": "silenced_at_hold_end"}
    )
    assert silenced == 1  # the alert the hold dropped is counted


async def test_after_a_silenced_flap_hold_the_next_firing_is_not_held_again(
    bench: MakeBench,
) -> None:
    b = await bench(SILENCEABLE_UNGROUPED, at("2026-03-10T12:00:00+00:00"))
    flapping = am_flapping("db-1", "firing", "resolved", "firing")
    for alert in flapping:  # held until 12:12 as flapping
        await b.post(alert)
        b.clock[0] += 60
    await silence_db1(b, hours=10 / 60)  # 12:03-12:13: the hold ends in it, dropped
    await b.run_until(at("2026-03-10T12:14:00+00:00"))
    result = await b.post(flapping[-1])  # Alertmanager's repeat of the firing held

    [firing] = result.notifications  # at once, not a flap_window later
    assert "flapped" not in firing.text


async def test_a_resolution_silenced_while_a_flap_hold_waits_still_updates_it(
    bench: MakeBench,
) -> None:
    b = await bench(SILENCEABLE_UNGROUPED, at("2026-03-10T12:00:00+00:00"))
    for alert in am_flapping(
        "db-1", "firing", "resolved", "firing"
    ):  # held until 12:12 as flapping
        await b.post(alert)
        b.clock[0] += 60
    await silence_db1(b, hours=5 / 60)  # 12:03-12:08
    b.clock[0] = at("2026-03-10T12:05:00+00:00")
    body = am_webhook(am_alert("db-1", "resolved"))
    report = await explain(b.runtime, b.store, "alertmanager", body, now=b.clock[0])
    [verdict] = report["routes"][0]["verdicts"]
    assert (verdict["verdict"], verdict["held_until"]) == ("silenced", "2026-03-10T12:12:00+00:00")
    await b.post(am_alert("db-1", "resolved"))  # silenced: dropped, but the hold knows
    await b.run_until(at("2026-03-10T12:20:00+00:00"))

    assert [h.split(" · ")[0] for h in b.headlines()] == [
        "🔥 *FIRING*",
        "✅ *RESOLVED*",
        "✅ *RESOLVED*",  # the hold's report: the latest state, flapped; not a stale FIRING
    ]


DEFERRED_AT_NOON = """\
time_intervals:
  - name: noon
    time_intervals:
      - times: [{start_time: '12:00', end_time: '12:10'}]
routes:
  - name: disks
    source: alertmanager
    mute_time_intervals: [noon]
    when_muted: defer
    to: [alice]
"""


async def test_a_resolution_silenced_while_a_deferred_hold_waits_still_updates_it(
    bench: MakeBench,
) -> None:
    b = await bench(DEFERRED_AT_NOON, at("2026-03-10T12:01:00+00:00"))
    await b.post(am_alert("db-1"))  # deferred until 12:10
    b.clock[0] = at("2026-03-10T12:02:00+00:00")
    await silence_db1(b, hours=4 / 60)  # 12:02-12:06
    b.clock[0] = at("2026-03-10T12:04:00+00:00")
    await b.post(am_alert("db-1", "resolved"))  # silenced: dropped, the hold knows
    await b.run_until(at("2026-03-10T12:30:00+00:00"))

    assert b.sent == []  # fired and resolved while held: nothing, not a stale FIRING


MUTED_FROM_TEN_PAST = """\
time_intervals:
  - name: lunch
    time_intervals:
      - times: [{start_time: '12:10', end_time: '13:00'}]
routes:
  - name: disks
    source: alertmanager
    mute_time_intervals: [lunch]
    when_muted: drop
    to: [alice]
"""


async def test_explain_says_a_hold_postponed_by_a_mute_reports_after_it(
    bench: MakeBench,
) -> None:
    b = await bench(MUTED_FROM_TEN_PAST, at("2026-03-10T12:00:00+00:00"))
    for alert in am_flapping(
        "db-1", "firing", "resolved", "firing"
    ):  # held until 12:12: in the mute
        await b.post(alert)
        b.clock[0] += 60
    await b.run_until(at("2026-03-10T12:40:00+00:00"))  # postponed while muted
    await silence_db1(b, hours=10 / 60)
    b.clock[0] = at("2026-03-10T12:41:00+00:00")
    body = am_webhook(am_alert("db-1", "resolved"))
    report = await explain(b.runtime, b.store, "alertmanager", body, now=b.clock[0])

    [verdict] = report["routes"][0]["verdicts"]
    assert verdict["verdict"] == "silenced"
    assert "mute" in verdict["held_until"] and "13:00" in verdict["held_until"]
