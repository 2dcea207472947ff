"""Groups a reload orphans (route removed, group_by dropped or changed): their alerts are routed
again under the new config, through the real pipeline, flusher and SQLite store on a test clock,
and once through the real server's POST /-/reload."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alertmanager_webhooks import am_alert, am_flapping, am_webhook
from conftest import (
    ADMIN_TOKEN,
    BOB_PHONE,
    StartBridge,
    am_headers,
    outbox_state_count,
    wait_until,
    write_config,
)

from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.grouping import GROUP_KIND, group_from_record
from bridge.pipeline.ingest import Pipeline
from bridge.pipeline.reroute import REROUTE_KIND, set_aside
from bridge.pipeline.silences import parse_silence, save_silence
from bridge.pipeline.staged_writes import StagedWrites
from bridge.runtime import Runtime, load_runtime
from bridge.store import SqliteStore

MINUTE, HOUR = 60.0, 3600.0

GROUPED = """\
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
    to: [alice]
"""
REGROUPED = GROUPED.replace("group_by: [alertname]", "group_by: [alertname, instance]")
UNGROUPED = GROUPED.replace("    group_by: [alertname]\n", "")
# The disks route is gone; everything now goes to bob, at once.
REPLACED = """\
routes:
  - name: everything
    source: alertmanager
    to: [bob]
"""
NOTHING_FOR_ALERTMANAGER = """\
routes:
  - name: ci
    source: github
    to: [bob]
"""


@dataclass
class Bench:
    """A pipeline and a group flusher sharing one store, one clock and the runtime in use."""

    tmp_path: Path
    runtime: Runtime
    store: SqliteStore
    metrics: Metrics
    pipeline: Pipeline
    flusher: GroupFlusher
    clock: list[float]
    sent: list[Notification]

    async def post(self, *alerts: dict[str, object]) -> None:
        received = datetime.fromtimestamp(self.clock[0], UTC)  # on the test clock
        webhook = self.runtime.sources["alertmanager"].parse({}, am_webhook(*alerts), received)
        r = self.runtime
        result = await self.pipeline.ingest(webhook, r.routes, r.renderer, r.time_intervals)
        self.sent.extend(result.notifications)

    async def reload(self, routes: str) -> None:
        """The new routes in use, then every group read at once, as Bridge.reload has it."""
        self.runtime = load_runtime(str(write_config(self.tmp_path, "http://127.0.0.1:9", routes)))
        for key, _ in await self.store.list_records(GROUP_KIND, self.clock[0]):
            self.sent.extend(await self.flusher.flush(key))

    async def run_until(self, end: float) -> None:
        """Step the clock a minute at a time, flushing every group that comes due."""
        while self.clock[0] < end:
            self.clock[0] += MINUTE
            for key, doc in await self.store.list_records(GROUP_KIND, self.clock[0]):
                if doc["next_flush_at"] <= self.clock[0]:
                    self.sent.extend(await self.flusher.flush(key))

    def told(self) -> list[tuple[str, str]]:
        """(recipient, headline) of every notification enqueued, in order."""
        return [(n.recipient, n.text.splitlines()[0].split(" · ")[0]) for n in self.sent]

    async def records(self, kind: str) -> list[str]:
        return [key for key, _ in await self.store.list_records(kind, self.clock[0])]


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", GROUPED)))
    store = SqliteStore(str(tmp_path / "bench.db"))
    await store.open()
    clock, metrics = [1_000_000.0], Metrics()
    pipeline = Pipeline(store, metrics, clock=lambda: clock[0])
    holder: list[Bench] = []
    flusher = GroupFlusher(pipeline, lambda: holder[0].runtime, clock=lambda: clock[0])
    holder.append(Bench(tmp_path, runtime, store, metrics, pipeline, flusher, clock, []))
    yield holder[0]
    await store.close()


FIRING, RESOLVED = "🔥 *FIRING*", "✅ *RESOLVED*"


async def test_a_changed_group_by_moves_the_alerts_to_their_new_groups(bench: Bench) -> None:
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 10 * MINUTE)
    assert bench.told() == [("alice", FIRING)]

    await bench.reload(REGROUPED)
    assert await bench.records(REROUTE_KIND) == []
    [key] = await bench.records(GROUP_KIND)
    assert "instance='db-1'" in key  # the old group is gone, its alert in its new group
    await bench.run_until(bench.clock[0] + 10 * MINUTE)
    await bench.post(am_alert("db-1", "resolved"))
    await bench.run_until(bench.clock[0] + 10 * HOUR)

    # The new group knows alice was told: no second FIRING, and the resolution that went to
    # it is sent; the old group no longer repeats FIRING every 4 hours.
    assert bench.told() == [("alice", FIRING), ("alice", RESOLVED)]
    grouped = bench.metrics.suppressed.labels("disks", "grouped")._value.get()
    assert grouped == 2  # the two events that arrived, not again when routed again
    assert await bench.records(GROUP_KIND) == []


async def test_a_removed_route_hands_alerts_in_group_wait_to_the_route_that_now_matches(
    bench: Bench,
) -> None:
    await bench.post(am_alert("db-1"), am_alert("db-2"))
    assert bench.told() == []  # waiting out group_wait

    await bench.reload(REPLACED)

    [message] = bench.sent  # one message for the two, as for any webhook
    assert (message.route, message.phone) == ("everything", BOB_PHONE)
    assert "disk full on db-1" in message.text and "disk full on db-2" in message.text
    assert await bench.records(GROUP_KIND) == await bench.records(REROUTE_KIND) == []
    # Counted once, when they arrived: routing them again is not a second arrival.
    assert bench.metrics.events.labels("alertmanager", "firing")._value.get() == 2


async def test_alerts_of_a_route_that_lost_group_by_go_out_at_once_and_only_once(
    bench: Bench,
) -> None:
    await bench.post(am_alert("db-1"))
    await bench.reload(UNGROUPED)
    await bench.post(am_alert("db-1"))  # Alertmanager's repeat: already told, deduped

    assert bench.told() == [("alice", FIRING)]
    assert await bench.records(GROUP_KIND) == []


async def test_alerts_no_route_matches_any_more_are_dropped_as_unrouted(bench: Bench) -> None:
    await bench.post(am_alert("db-1"))
    await bench.reload(NOTHING_FOR_ALERTMANAGER)

    assert bench.sent == []
    assert bench.metrics.unrouted_events.labels("alertmanager")._value.get() == 1
    assert await bench.records(GROUP_KIND) == await bench.records(REROUTE_KIND) == []


async def test_a_group_set_aside_before_a_crash_is_routed_again_at_start(bench: Bench) -> None:
    await bench.post(am_alert("db-1"))
    [(_, doc)] = await bench.store.list_records(GROUP_KIND, bench.clock[0])
    staged = StagedWrites()  # step 1 of a reroute committed, then the process died
    set_aside(staged, group_from_record(doc))
    await staged.commit(bench.store)
    bench.runtime = load_runtime(str(write_config(bench.tmp_path, "http://127.0.0.1:9", REPLACED)))

    await bench.flusher.start()
    try:
        await wait_until(
            lambda: _no_records(bench, REROUTE_KIND), what="the set-aside group routed again"
        )
    finally:
        await bench.flusher.stop()
    [notification] = await bench.store.list_notifications("pending")
    assert (notification.route, notification.phone) == ("everything", BOB_PHONE)


async def _no_records(bench: Bench, kind: str) -> bool:
    return await bench.records(kind) == []


async def test_reload_over_http_sends_a_waiting_alert_through_its_new_route(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(GROUPED.replace("group_wait: 30s", "group_wait: 1h"))
    reply = await h.post("/webhook/alertmanager", am_webhook(am_alert("db-1")), am_headers())
    assert reply.status == 202
    assert await outbox_state_count(h, "pending") + await outbox_state_count(h, "sent") == 0

    write_config(h.config_path.parent, h.standin.url, REPLACED)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await h.post("/-/reload", b"", auth)).status == 200

    # Not an hour later, at the end of the old group_wait: now, to bob, by the new route.
    async def delivered() -> bool:
        return len(h.standin.state.messages) == 1

    await wait_until(delivered, what="the rerouted alert at the stand-in")
    assert "disk full on db-1" in h.texts()[0]
    assert h.standin.state.messages[0].request["to"] == BOB_PHONE


async def test_a_resolution_waiting_in_a_regrouped_group_is_still_sent(bench: Bench) -> None:
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)
    await bench.post(am_alert("db-1", "resolved"))  # waits for the next flush (5 min)

    await bench.reload(REGROUPED)
    await bench.run_until(bench.clock[0] + 10 * HOUR)

    assert bench.told() == [("alice", FIRING), ("alice", RESOLVED)]
    assert await bench.records(GROUP_KIND) == await bench.records(REROUTE_KIND) == []


async def test_regrouping_by_everything_gives_each_alert_its_own_group(bench: Bench) -> None:
    await bench.post(am_alert("db-1"), am_alert("db-2"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)

    # A deadline: the reroute's ingest takes group locks while the flusher works.
    await asyncio.wait_for(bench.reload(GROUPED.replace("[alertname]", '["..."]')), timeout=5)
    await bench.run_until(bench.clock[0] + HOUR)

    keys = await bench.records(GROUP_KIND)
    assert sorted(k.split("{")[1] for k in keys) == [
        "fingerprint='fp-db-1'}",
        "fingerprint='fp-db-2'}",
    ]
    assert bench.told() == [("alice", "🔥 *2 firing*")]  # the one message for both, once
    assert await bench.records(REROUTE_KIND) == []


async def test_a_newer_state_a_regrouped_group_receives_first_is_not_undone(
    bench: Bench,
) -> None:
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)
    # The new routes are in use; the resolution lands in the new group before the flusher
    # reaches the old one (at a restart, Alertmanager's retries arrive while it works).
    bench.runtime = load_runtime(str(write_config(bench.tmp_path, "http://127.0.0.1:9", REGROUPED)))
    await bench.post(am_alert("db-1", "resolved"))
    await bench.reload(REGROUPED)
    await bench.run_until(bench.clock[0] + 10 * HOUR)

    assert bench.told()[-1] == ("alice", RESOLVED)  # never FIRING again after it
    assert await bench.records(GROUP_KIND) == []


TEAM_AND_PAGER = """\
routes:
  - name: team
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    continue: true
    to: [alice]
  - name: pager
    source: alertmanager
    dedupe_window: 1h
    to: [bob]
"""


async def test_routes_the_reload_left_alone_hear_nothing_again(bench: Bench) -> None:
    await bench.reload(TEAM_AND_PAGER)
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * HOUR)  # past pager's dedupe_window

    await bench.reload(TEAM_AND_PAGER.replace("[alertname]", "[alertname, instance]"))
    await bench.run_until(bench.clock[0] + 10 * MINUTE)

    assert [who for who, _ in bench.told()].count("bob") == 1
    assert bench.metrics.route_matches.labels("pager")._value.get() == 1


async def test_a_resolution_ingested_under_the_old_routes_after_the_dissolve_is_sent(
    bench: Bench,
) -> None:
    """A webhook parsed and routed under the old config can land in the old group's key after
    the flusher dissolved it; its resolution must still reach alice."""
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)
    old = bench.runtime
    received = datetime.fromtimestamp(bench.clock[0], UTC)
    late = old.sources["alertmanager"].parse({}, am_webhook(am_alert("db-1", "resolved")), received)
    await bench.reload(REGROUPED)
    await bench.pipeline.ingest(late, old.routes, old.renderer, old.time_intervals)
    await bench.reload(REGROUPED)  # the flusher reaches the old key again
    await bench.run_until(bench.clock[0] + 10 * HOUR)

    assert bench.told() == [("alice", FIRING), ("alice", RESOLVED)]
    assert await bench.records(GROUP_KIND) == []


WARNINGS_ELSEWHERE = """\
routes:
  - name: disks
    source: alertmanager
    matchers: ['severity="page"']
    group_by: [alertname, instance]
    group_wait: 30s
    to: [alice]
  - name: disks-warn
    source: alertmanager
    group_by: [alertname]
    group_wait: 30s
    to: [alice]
"""


async def test_an_alert_its_regrouped_route_no_longer_matches_goes_where_it_now_belongs(
    bench: Bench,
) -> None:
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)
    await bench.reload(WARNINGS_ELSEWHERE)
    await bench.post(am_alert("db-1", "resolved"))
    await bench.run_until(bench.clock[0] + HOUR)

    assert bench.told() == [("alice", FIRING), ("alice", RESOLVED)]
    assert [n.route for n in bench.sent] == ["disks", "disks-warn"]


MUTED_HALF_HOURS = """\
time_intervals:
  - name: first-half-hour
    time_intervals: [{times: [{start_time: "00:00", end_time: "00:30"}]}]
"""


@pytest.mark.parametrize("muted", [False, True], ids=["unmuted", "muted-defer"])
async def test_alerts_told_by_a_group_are_not_told_again_when_the_route_loses_group_by(
    bench: Bench, muted: bool
) -> None:
    bench.clock[0] = datetime(2026, 3, 10, 9, 59, tzinfo=UTC).timestamp()
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)  # FIRING told at 10:00
    assert bench.told() == [("alice", FIRING)]

    bench.clock[0] = datetime(2026, 3, 10, 12, 10, tzinfo=UTC).timestamp()  # 2 h later
    ungrouped = UNGROUPED.replace("    to: [alice]\n", "    dedupe_window: 3h\n    to: [alice]\n")
    if muted:  # the whole day, except a moment: the release comes within the hour
        ungrouped = MUTED_HALF_HOURS.replace("00:00", "12:00").replace(
            "00:30", "12:20"
        ) + ungrouped.replace(
            "    to: [alice]\n",
            "    mute_time_intervals: [first-half-hour]\n    when_muted: defer\n    to: [alice]\n",
        )
    await bench.reload(ungrouped)
    await bench.run_until(bench.clock[0] + 30 * MINUTE)

    assert bench.told() == [("alice", FIRING)]  # within the 3 h window: said once


WARNINGS_FIRST = """\
routes:
  - name: disks-warn
    source: alertmanager
    matchers: ['severity="critical"']
    group_by: [alertname]
    group_wait: 30s
    to: [alice]
""" + GROUPED.removeprefix("routes:\n")


async def test_a_route_put_ahead_of_the_groups_route_takes_its_alerts(bench: Bench) -> None:
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)
    await bench.reload(WARNINGS_FIRST)  # disks is unchanged, but no longer gets db-1
    await bench.post(am_alert("db-1", "resolved"))
    await bench.run_until(bench.clock[0] + 10 * HOUR)

    assert bench.told() == [("alice", FIRING), ("alice", RESOLVED)]  # not FIRING every 4 h
    assert [n.route for n in bench.sent] == ["disks", "disks-warn"]
    assert await bench.records(GROUP_KIND) == []


async def test_a_flap_hold_of_a_route_that_gains_group_by_ends_in_its_groups(
    bench: Bench,
) -> None:
    await bench.reload(UNGROUPED)
    *flapping, resolved = am_flapping("db-1", "firing", "resolved", "firing", "resolved")
    for alert in flapping:  # the third is held as flapping
        await bench.post(alert)
        bench.clock[0] += MINUTE
    assert bench.told() == [("alice", FIRING), ("alice", RESOLVED)]

    await bench.reload(GROUPED)
    await bench.run_until(bench.clock[0] + 10 * MINUTE)
    await bench.post(resolved)
    await bench.run_until(bench.clock[0] + HOUR)

    assert bench.told()[2:] == [("alice", FIRING), ("alice", RESOLVED)]  # last word: resolved
    assert await bench.records(GROUP_KIND) == []


TEAM_THEN_PAGER = TEAM_AND_PAGER.replace("    to: [bob]\n", "    to: [alice]\n")


async def test_what_a_removed_group_told_does_not_replace_a_newer_reminder(
    bench: Bench,
) -> None:
    await bench.reload(TEAM_THEN_PAGER)
    start = bench.clock[0]
    await bench.post(am_alert("db-1"))
    await bench.run_until(start + 2 * HOUR)
    await bench.post(am_alert("db-1"))  # Alertmanager's repeat: pager's hour is over
    assert [n.route for n in bench.sent] == ["pager", "team", "pager"]

    await bench.reload(  # team removed; its group told alice at its first flush
        "routes:\n  - name: pager\n    source: alertmanager\n    dedupe_window: 1h\n"
        "    to: [alice]\n"
    )
    bench.clock[0] = start + 2 * HOUR + 30 * MINUTE
    await bench.post(am_alert("db-1"))  # 30 minutes after pager's reminder: a duplicate

    assert [n.route for n in bench.sent] == ["pager", "team", "pager"]


NIGHT_HALF_HOUR = """\
time_intervals:
  - name: night
    time_intervals: [{times: [{start_time: "01:00", end_time: "01:30"}], location: UTC}]
"""
DISKS_DEFERRED = """\
  - name: disks
    source: alertmanager
    mute_time_intervals: [night]
    when_muted: defer
    to: [alice]
"""
APP_THEN_DISKS = (
    NIGHT_HALF_HOUR
    + GROUPED.replace("name: disks", "name: app").replace(
        "    source: alertmanager\n",
        "    source: alertmanager\n    matchers: ['alertname=\"Disk\"']\n",
    )
    + DISKS_DEFERRED
)


async def test_alerts_joining_a_deferred_hold_keep_what_their_group_told(bench: Bench) -> None:
    bench.clock[0] = datetime(2026, 3, 10, 0, 50, tzinfo=UTC).timestamp()
    await bench.reload(APP_THEN_DISKS)
    await bench.post(am_alert("db-1"))  # app: FIRING at 00:51
    await bench.run_until(bench.clock[0] + 5 * MINUTE)
    bench.clock[0] = datetime(2026, 3, 10, 1, 10, tzinfo=UTC).timestamp()
    await bench.post(am_alert("db-9", alertname="Memory"))  # disks: deferred until 01:30
    assert bench.told() == [("alice", FIRING)]

    bench.clock[0] = datetime(2026, 3, 10, 1, 30, 10, tzinfo=UTC).timestamp()
    await bench.reload(NIGHT_HALF_HOUR + "routes:\n" + DISKS_DEFERRED)  # app removed
    await bench.run_until(bench.clock[0] + 10 * MINUTE)

    # db-1 joined the hold still waiting for its release: told 40 minutes ago, not again.
    [released] = bench.sent[1:]
    assert "db-9" in released.text and "db-1" not in released.text


async def test_an_alert_silenced_when_its_route_loses_group_by_keeps_what_alice_heard(
    bench: Bench,
) -> None:
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)  # FIRING told
    start = datetime.fromtimestamp(bench.clock[0], UTC)
    body = {
        "matchers": [{"name": "instance", "value": "db-1", "isRegex": False}],
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(minutes=30)).isoformat(),
        "createdBy": "alice",
        "comment": "disk swap",
    }
    await save_silence(bench.store, parse_silence(body, now=start, silence_id="s1"))
    await bench.reload(UNGROUPED)  # db-1 routed again while silenced: dropped there
    bench.clock[0] = start.timestamp() + 40 * MINUTE  # the silence is over
    await bench.post(am_alert("db-1"))  # Alertmanager's repeat: alice heard it 40 min ago
    await bench.post(am_alert("db-1", "resolved"))

    assert bench.told() == [("alice", FIRING), ("alice", RESOLVED)]
