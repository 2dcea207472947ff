"""Rerouting edges on the reroute bench (`test_reroute.py`): a crash between setting a group
aside and routing it again, and a reload that regroups a route while it is muted."""

from __future__ import annotations

import test_reroute
from alertmanager_webhooks import am_alert
from conftest import write_config
from test_reroute import FIRING, GROUPED, HOUR, MINUTE, RESOLVED, UNGROUPED, Bench

from bridge.pipeline.grouping import GROUP_KIND, group_from_record
from bridge.pipeline.reroute import REROUTE_KIND, set_aside
from bridge.pipeline.staged_writes import StagedWrites
from bridge.runtime import load_runtime

bench = test_reroute.bench  # the fixture: a pipeline, a flusher and a store on one clock


async def test_a_firing_set_aside_before_a_crash_is_not_sent_after_its_resolution(
    bench: Bench,
) -> None:
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)  # the group told alice FIRING
    [(_, doc)] = await bench.store.list_records(GROUP_KIND, bench.clock[0])
    staged = StagedWrites()  # step 1 of a reroute committed, then the process died
    set_aside(staged, group_from_record(doc))
    await staged.commit(bench.store)
    bench.runtime = load_runtime(str(write_config(bench.tmp_path, "http://127.0.0.1:9", UNGROUPED)))
    bench.clock[0] += MINUTE
    await bench.post(am_alert("db-1", "resolved"))  # reaches the restarted bridge first

    [key] = await bench.records(REROUTE_KIND)
    bench.sent.extend(await bench.flusher.flush(key))  # the set-aside FIRING, routed again
    await bench.run_until(bench.clock[0] + 30 * MINUTE)
    assert bench.told() == [("alice", FIRING), ("alice", RESOLVED)]


MUTED_AFTERNOON = """\
time_intervals:
  - name: afternoon
    time_intervals: [{times: [{start_time: "13:00", end_time: "15:00"}], location: UTC}]
""" + GROUPED.replace("    to: [alice]", "    mute_time_intervals: [afternoon]\n    to: [alice]")


async def test_a_reload_that_regroups_a_muted_route_sends_nothing_until_the_mute_ends(
    bench: Bench,
) -> None:
    await bench.reload(MUTED_AFTERNOON)  # the bench clock reads 1970-01-12 13:46 UTC: muted
    await bench.post(am_alert("db-1"))
    await bench.run_until(bench.clock[0] + 2 * MINUTE)
    assert bench.told() == []

    await bench.reload(
        MUTED_AFTERNOON.replace("group_by: [alertname]", "group_by: [alertname, instance]")
    )
    assert bench.told() == []  # still muted
    await bench.run_until(bench.clock[0] + 2 * HOUR)
    assert bench.told() == [("alice", FIRING)]
